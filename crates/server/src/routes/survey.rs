//! `/survey/{token}`: the page a satisfaction survey's email links to. Customers see it, on a
//! phone mostly, so every answer is a page in Chinese, never a JSON error: a link that is not
//! mend's, has expired or was used gets a polite explanation, and a database that is down gets
//! "try again later" rather than a 500.

use std::sync::LazyLock;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use mend_core::Satisfaction;
use mend_notify::SurveyLinkProblem;
use minijinja::{Environment, context};
use serde::Deserialize;

use crate::AppState;

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template("survey.html", include_str!("../../templates/survey.html.j2"))
        .expect("the survey page template parses");
    env
});

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SurveyForm {
    /// 1 to 5 stars.
    rating: Option<String>,
    comment: Option<String>,
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    form_page(&state, &token, None, "", StatusCode::OK).await
}

pub async fn answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<SurveyForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or(SurveyForm { rating: None, comment: None });
    let comment = form.comment.unwrap_or_default();
    let rating =
        form.rating.as_deref().and_then(|r| r.trim().parse::<i64>().ok()).and_then(|r| Satisfaction::new(r).ok());
    // `answer` opens the link itself; only a form to show again needs it opened here.
    let Some(rating) = rating else {
        let error = "请选择 1-5 星后再提交。";
        return form_page(&state, &token, Some(error), &comment, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    // `answer` trims it and drops an empty one.
    match state.mailroom.survey_links.answer(&state.store, &token, rating, Some(comment), state.clock.now()).await {
        Ok(Ok(_)) => page(
            StatusCode::OK,
            context! { page => "done", icon => "🙏", title => "感谢您的评价",
            message => "您的评价已经收到,我们会继续改进服务。" },
        ),
        Ok(Err(problem)) => problem_page(problem),
        Err(e) => unavailable(e),
    }
}

/// The form of the survey `token` opens (with `error` and the `comment` sent, when asked
/// again), or the page that says why it does not open.
async fn form_page(state: &AppState, token: &str, error: Option<&str>, comment: &str, status: StatusCode) -> Response {
    let view = match state.mailroom.survey_links.open(&state.store, token, state.clock.now()).await {
        Ok(Ok(view)) => view,
        Ok(Err(problem)) => return problem_page(problem),
        Err(e) => return unavailable(e),
    };
    let expires_at =
        view.expires_at.with_timezone(&state.intake.default_timezone()).format("%Y-%m-%d %H:%M").to_string();
    page(status, context! { page => "form", error, comment, expires_at })
}

/// A path under `/survey/` that names no survey (a link cut short in a customer's mail app):
/// the survey's own "link not valid" page, not the staff's.
pub(crate) fn no_such_survey() -> Response {
    problem_page(SurveyLinkProblem::Forged)
}

fn problem_page(problem: SurveyLinkProblem) -> Response {
    let (status, icon, title, message) = match problem {
        SurveyLinkProblem::Forged => (
            StatusCode::NOT_FOUND,
            "🔗",
            "链接无效",
            "这个评价链接不完整或已失效。请检查是否完整复制了邮件中的链接;如有问题,欢迎拨打客服热线。",
        ),
        SurveyLinkProblem::Expired => (
            StatusCode::GONE,
            "⏰",
            "评价链接已过期",
            "很抱歉,这个评价链接已经过了有效期。如果您对处理结果还有意见,欢迎拨打客服热线告诉我们。",
        ),
        SurveyLinkProblem::Answered => {
            (StatusCode::CONFLICT, "✅", "您已经评价过了", "这次处理的评价已经收到,每个链接只能提交一次。感谢您的反馈!")
        }
        SurveyLinkProblem::Withdrawn => (
            StatusCode::GONE,
            "🔧",
            "问题正在重新处理",
            "您反映的问题我们正在重新处理,这个评价链接已经停用。处理完毕后,我们会再请您评价。感谢您的耐心!",
        ),
    };
    page(status, context! { page => "problem", icon, title, message })
}

fn unavailable(error: mend_notify::NotifyError) -> Response {
    tracing::error!(error = %error, "The survey page could not be served.");
    let message = "系统暂时繁忙,您的评价还没有提交。请稍后刷新页面再试。";
    page(StatusCode::SERVICE_UNAVAILABLE, context! { page => "problem", icon => "🛠", title => "请稍后再试", message })
}

fn page(status: StatusCode, context: minijinja::Value) -> Response {
    let html = PAGES.get_template("survey.html").and_then(|t| t.render(context)).unwrap_or_else(|e| {
        tracing::error!(error = %e, "The survey page template failed.");
        "<!DOCTYPE html><meta charset=utf-8><p>系统暂时繁忙,请稍后再试。</p>".to_owned()
    });
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    // The token in the address is the customer's key: keep it out of caches and referrers.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    // Never inside another site's frame, where a click could be made to rate for the customer.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}
