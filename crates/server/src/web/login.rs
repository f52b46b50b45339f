//! `/login` and `/logout`. Before a session exists the form's CSRF token is a random value in a
//! short-lived cookie that the form sends back (double submit): a page on another site can post
//! a login form, but cannot read or set that cookie.

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::{Button, PageError, Posted, WebUser, render};
use crate::AppState;
use crate::accounts::{self, LockedOut, SignInCheck};
use crate::auth;
use crate::client_address::ClientAddress;
use crate::routes::session::{expired_cookie, open_session};

const LOGIN_COOKIE: &str = "mend_login";

#[derive(Debug, Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
    /// The page's session had ended (signed out elsewhere, timed out, the user deactivated).
    #[serde(default)]
    expired: bool,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn form(Query(query): Query<NextQuery>, parts: Parts) -> Response {
    let next = safe_next(query.next.as_deref().unwrap_or_default());
    // Said before the form, so an agent knows why a form they sent brought them here; what
    // they typed is still in their browser (the workbench keeps drafts) on the page it returns to.
    let notice = query.expired.then_some("登录已过期,请重新登录。刚才的表单没有提交,登录后回到原页面再提交。");
    login_page(&parts, StatusCode::OK, "", &next, notice)
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    parts: Parts,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(login_page(&parts, StatusCode::BAD_REQUEST, "", "/desk", Some("请填写用户名和密码。")));
    };
    let next = safe_next(&form.next);
    let cookie = auth::cookie(&parts, LOGIN_COOKIE);
    if cookie.is_none_or(|c| c.is_empty() || c != form.csrf) {
        let message = "登录页面已过期,请重新输入后登录。";
        return Ok(login_page(&parts, StatusCode::FORBIDDEN, &form.name, &next, Some(message)));
    }
    let refused = || {
        let message = "用户名或密码不正确。";
        login_page(&parts, StatusCode::UNAUTHORIZED, &form.name, &next, Some(message))
    };
    let now = state.clock.now();
    let from = (client.as_source(), state.devices.vouched(&parts, now));
    let checked = accounts::check_sign_in(&state.store, &form.name, &form.password, (&from.0, from.1), now).await?;
    let (user, hash) = match checked {
        SignInCheck::Passed(user, hash) => (user, hash),
        SignInCheck::Wrong => return Ok(refused()),
        SignInCheck::Locked(until, locked_out) => {
            let minutes = (until - now).num_minutes() + 1;
            let message = match locked_out {
                LockedOut::Name => {
                    format!("密码错误次数过多,该账号暂时锁定,请 {minutes} 分钟后再试,或请管理员重置密码。")
                }
                LockedOut::Address => format!("本机所在网络密码错误次数过多,请 {minutes} 分钟后再试。"),
                LockedOut::NewBrowser => format!(
                    "该账号近期在多处被试密码,暂时只能在曾经登录过的浏览器上登录,请 {minutes} 分钟后再试,或请管理员重置密码。"
                ),
            };
            let mut page = login_page(&parts, StatusCode::TOO_MANY_REQUESTS, &form.name, &next, Some(&message));
            let seconds = (until - now).num_seconds().max(1);
            page.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
            return Ok(page);
        }
    };
    // Deactivated or reset since the check: as if the password were wrong.
    let Some((_, _, cookies)) = open_session(&state, &user, &hash).await? else {
        return Ok(refused());
    };
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
    headers
        .append(SET_COOKIE, HeaderValue::from_static("mend_login=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0"));
    Ok(response)
}

pub async fn sign_out(
    State(state): State<AppState>,
    user: WebUser,
    parts: Parts,
    form: Result<Form<Posted<Button>>, FormRejection>,
) -> Result<Response, PageError> {
    user.accept(mend_core::Role::Agent, form)?;
    if let Some(token) = auth::session_cookie(&parts) {
        mend_store::sessions::revoke_session(state.store.connection(), &auth::hash_token(&token), state.clock.now())
            .await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(SET_COOKIE, expired_cookie(&state));
    Ok(response)
}

/// The form, with a fresh double-submit token unless the browser has one already.
fn login_page(parts: &Parts, status: StatusCode, name: &str, next: &str, error: Option<&str>) -> Response {
    let existing = auth::cookie(parts, LOGIN_COOKIE).filter(|c| c.len() >= 32);
    let token = existing.clone().unwrap_or_else(|| auth::random_text(24));
    let mut response = render(status, "login.html", context! { csrf => token, name, next, error });
    if existing.is_none() {
        let cookie = format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(SET_COOKIE, value);
        }
    }
    response
}

/// Where to go after signing in: a page of this site ([`super::local_path`]), else the desk.
fn safe_next(next: &str) -> String {
    super::local_path(next).unwrap_or("/desk").to_owned()
}
