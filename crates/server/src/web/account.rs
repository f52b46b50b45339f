//! The signed-in user's own account: choosing a new password.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mend_core::Role;
use minijinja::context;
use serde::Deserialize;

use super::{PageError, Posted, WebUser, frame, render};
use crate::accounts::{self, AccountError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::{ApiError, AppState, ErrorCode};

#[derive(Debug, Deserialize, Default)]
pub struct AccountQuery {
    changed: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<AccountQuery>,
) -> Result<Response, PageError> {
    let message = query.changed.is_some().then_some("密码已修改。其他已登录的页面需要重新登录。");
    let page = context! {
        section => "account", message, min_chars => MIN_PASSWORD_CHARS, max_chars => MAX_PASSWORD_CHARS,
        ..frame(&user, &state)
    };
    Ok(render(StatusCode::OK, "account.html", page))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

/// A new password of the user's choosing; their other sessions end, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Posted<PasswordForm>>, FormRejection>,
) -> Result<Response, PageError> {
    let form = user.accept(Role::Agent, form)?;
    if form.new != form.repeat {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "两次输入的新密码不一致。").into());
    }
    let now = state.clock.now();
    match accounts::change_password(
        &state.store,
        &user.record,
        &form.current,
        &form.new,
        Some(&user.session_hash()),
        now,
    )
    .await
    {
        Ok(_) => Ok(super::desk::see_other("/account?changed=1")),
        Err(AccountError::WrongPassword) => Err(ApiError::new(ErrorCode::Forbidden, "当前密码不正确。").into()),
        Err(AccountError::WeakPassword) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("新密码需 {MIN_PASSWORD_CHARS} 至 {MAX_PASSWORD_CHARS} 个字符,不能与用户名或当前密码相同。"),
        )
        .into()),
        Err(other) => Err(ApiError::from(other).into()),
    }
}
