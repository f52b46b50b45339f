//! The workbench: server-rendered pages (zh-CN) for repair agents and supervisors, on the same
//! desk the JSON API drives. Pages read through `mend-store` and act through `mend-desk`, as the
//! API does; they add sign-in by form, CSRF tokens on every form, and nothing of business.
//!
//! A page's signed-in user comes from the session cookie only (a bearer token is the API's);
//! without one the page sends the browser to `/login`.

mod account;
mod admin;
mod assets;
mod dashboard;
mod desk;
mod login;
mod supervisor;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::DateTime;
use chrono_tz::Tz;
use mend_core::{Money, Role};
use mend_store::users::{Credential, UserRecord};
use minijinja::{Environment, Value, context};

use crate::auth;
use crate::{ApiError, AppState, ErrorCode};

/// The pages and their form actions.
pub(crate) fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/desk") }))
        .route("/login", get(login::form).post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .route("/desk", get(desk::workbench))
        .route("/desk/next", post(desk::next_task))
        .route("/desk/search", post(desk::search))
        .route("/desk/tasks/{id}", get(desk::task_page))
        .route("/desk/tasks/{id}/complete", post(desk::complete))
        .route("/desk/tasks/{id}/release", post(desk::release))
        .route("/desk/cases/{id}", get(desk::case_page))
        .route("/desk/cases/{id}/compensations", post(desk::offer))
        .route("/desk/cases/{id}/merge", post(desk::merge))
        .route("/desk/cases/{id}/split", post(desk::split))
        .route("/desk/cases/{id}/move", post(desk::move_complaint))
        .route("/desk/cases/{id}/temperament", post(desk::set_temperament))
        .route("/desk/cases/{id}/do-not-disturb", post(desk::set_do_not_disturb))
        .route("/supervisor", get(supervisor::overview))
        .route("/dashboard", get(dashboard::hot_issues))
        .route("/admin", get(admin::overview))
        .route("/admin/users", post(admin::add_user))
        .route("/admin/budget", post(admin::set_budget))
        .route("/admin/users/{id}/{action}", post(admin::change_user))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/admin/quarantine/{id}/replay", post(admin::replay))
        .route("/supervisor/compensations/{id}/{decision}", post(supervisor::decide))
        .route("/supervisor/tasks/{id}/release", post(supervisor::take_back))
        .route("/supervisor/escalations/{id}/acknowledge", post(supervisor::acknowledge_escalation))
        .route("/assets/{file}", get(assets::serve))
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let templates = [
        ("base.html", include_str!("../../templates/web/base.html.j2")),
        ("login.html", include_str!("../../templates/web/login.html.j2")),
        ("workbench.html", include_str!("../../templates/web/workbench.html.j2")),
        ("case.html", include_str!("../../templates/web/case.html.j2")),
        ("supervisor.html", include_str!("../../templates/web/supervisor.html.j2")),
        ("problem.html", include_str!("../../templates/web/problem.html.j2")),
        ("dashboard.html", include_str!("../../templates/web/dashboard.html.j2")),
        ("admin.html", include_str!("../../templates/web/admin.html.j2")),
        ("search.html", include_str!("../../templates/web/search.html.j2")),
        ("account.html", include_str!("../../templates/web/account.html.j2")),
    ];
    for (name, source) in templates {
        env.add_template(name, source).unwrap_or_else(|e| panic!("the template {name} parses: {e}"));
    }
    env.add_global("zh", Value::from_iter(WORDS.iter().copied()));
    env.add_filter("yuan", |fen: i64| Money::from_fen(fen).to_string());
    env.add_filter("local", local_time);
    env.add_filter("short_id", short_id);
    env
});

/// An id as the pages abbreviate it: its last eight characters. A UUIDv7 begins with its clock,
/// so the first eight are alike for everything made in the same minute.
fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    chars[chars.len().saturating_sub(8)..].iter().collect()
}

/// The stored words (statuses, kinds, channels, roles) as the pages say them.
const WORDS: &[(&str, &str)] = &[
    ("agent", "坐席"),
    ("supervisor", "主管"),
    ("admin", "管理员"),
    ("hotline", "热线"),
    ("wechat", "微信"),
    ("bot", "智能客服"),
    ("store", "门店"),
    ("open", "处理中"),
    ("closed", "已关闭"),
    ("merged", "已合并"),
    ("claimed", "处理中"),
    ("done", "已完成"),
    ("cancelled", "已取消"),
    ("callback", "首次回访"),
    ("verification", "验证回访"),
    ("retry", "重拨"),
    ("second_repair", "二次修复"),
    ("reached", "已接通"),
    ("unreachable", "未接通"),
    ("wrong_number", "号码错误"),
    ("refused", "拒绝沟通"),
    ("bill_credit", "话费减免"),
    ("data_pack", "流量包"),
    ("coupon", "优惠券"),
    ("refund", "退款"),
    ("gift", "礼品"),
    ("pending", "待审批"),
    ("approved", "已批准"),
    ("rejected", "已驳回"),
    ("impulsive", "急躁型"),
    ("lecturing", "说教型"),
    ("sensitive", "敏感型"),
    ("self_regarding", "自我型"),
    ("neutral", "平和型"),
    ("phone", "电话"),
    ("email", "邮箱"),
    ("wechat_openid", "微信"),
    ("wechat_unionid", "微信"),
    ("member_id", "会员号"),
    ("bot_user_id", "智能客服账号"),
    ("reopened", "同一问题,重新打开案件"),
    ("accepted", "已入库"),
    ("duplicate", "重复,已有记录"),
    ("ignored", "不是投诉,已忽略"),
    ("still_quarantined", "仍无法读取"),
    ("already_resolved", "此前已处理"),
    ("opened", "新问题,开立案件"),
    ("joined", "同一问题,并入案件"),
    ("moved", "由坐席移入本案件"),
    ("case_merged", "随所在案件并入"),
    ("intake", "系统自动"),
    ("split", "由坐席拆为新案件"),
    ("unmerged", "撤销客户合并后归回"),
];

/// A stored word as the pages say it, or the word itself when the pages have no name for it.
pub(crate) fn word(stored: &str) -> &str {
    WORDS.iter().find(|(w, _)| *w == stored).map_or(stored, |(_, zh)| zh)
}

/// `{{ at | local(zone) }}`: an RFC 3339 instant as `MM-DD HH:MM` in `zone`.
fn local_time(at: String, zone: String, with_year: Option<bool>) -> String {
    let (Ok(at), Ok(zone)) = (DateTime::parse_from_rfc3339(&at), zone.parse::<Tz>()) else {
        return at;
    };
    let format = if with_year.unwrap_or(false) { "%Y-%m-%d %H:%M" } else { "%m-%d %H:%M" };
    at.with_timezone(&zone).format(format).to_string()
}

/// A page rendered from `template`, or the apology a broken template gets (logged).
pub(crate) fn render(status: StatusCode, template: &str, context: Value) -> Response {
    let html = TEMPLATES.get_template(template).and_then(|t| t.render(context)).unwrap_or_else(|e| {
        tracing::error!(error = %e, template, "A page template failed.");
        "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=utf-8><p>页面出错了,请稍后再试。</p></html>".to_owned()
    });
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    // Pages carry customers' details: never cached, never framed, scripts only from here.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// What every page's frame shows: who is signed in, their menu, the CSRF token for its forms.
pub(crate) fn frame(user: &WebUser, state: &AppState) -> Value {
    context! {
        me => context! { name => user.record.name, role => user.record.role.as_str(),
                         supervisor => user.record.role.includes(Role::Supervisor),
                         admin => user.record.role.includes(Role::Admin) },
        csrf => user.csrf,
        zone => state.intake.default_timezone().name(),
        categories => state.intake.classifier().categories().iter()
            .map(|c| (c.id.clone(), c.name.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        now => state.clock.now().to_rfc3339(),
    }
}

/// The user a page is for: signed in through the session cookie, with the CSRF token their
/// forms must send back.
pub(crate) struct WebUser {
    pub record: UserRecord,
    pub csrf: String,
    /// The session's token (the cookie's), from which its CSRF token and hash are derived.
    session_token: String,
}

impl WebUser {
    /// Refuses (with a page) unless the user's role includes `role`.
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        auth::require_role(&self.record, role).map_err(PageError::from)
    }

    /// The fields of a form the user posted, once its CSRF token shows it came from one of our
    /// pages and the user's role allows the action.
    pub fn accept<T>(&self, role: Role, form: Result<Form<Posted<T>>, FormRejection>) -> Result<T, PageError> {
        let Posted { csrf, fields } = form.map(|Form(f)| f).map_err(|e| {
            PageError(ApiError::new(ErrorCode::InvalidRequest, format!("表单内容不完整:{}", e.body_text())))
        })?;
        self.check_csrf(&csrf)?;
        self.require(role)?;
        Ok(fields)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if auth::constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError(ApiError::new(
                ErrorCode::Forbidden,
                "这个表单已过期(或不是从本系统提交的),请刷新页面后重试。",
            )))
        }
    }

    /// The hash the session is stored under: the session a password change keeps.
    pub fn session_hash(&self) -> String {
        auth::hash_token(&self.session_token)
    }

    pub fn desk_agent(&self) -> mend_desk::Agent {
        mend_desk::Agent {
            id: self.record.user_id,
            role: self.record.role,
            actor: format!("user:{}", self.record.name),
        }
    }
}

/// A posted form: the CSRF token every form of ours carries, and the form's own fields.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Posted<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

/// A form with nothing but its CSRF token (a button).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Button {}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = |expired: bool| {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/desk");
            // A form is sent from the page it is on: back there, not to the form's target. Only
            // the referrer's path is kept, so it names a page of this site whatever it said.
            let from_page = || {
                let referer = parts.headers.get(axum::http::header::REFERER)?.to_str().ok()?;
                let after_scheme = referer.split_once("://")?.1;
                local_path(&after_scheme[after_scheme.find('/')?..]).map(str::to_owned)
            };
            let back = if parts.method == axum::http::Method::GET {
                next.to_owned()
            } else {
                from_page().unwrap_or("/desk".into())
            };
            let expired = if expired { "&expired=true" } else { "" };
            Redirect::to(&format!("/login?next={}{expired}", urlencoding(&back))).into_response()
        };
        let Some(token) = auth::session_cookie(parts) else {
            return Err(to_login(false));
        };
        // Pages are for people signed in on the page, not for API tokens.
        match state.sign_ins.holder(&token, state.clock.now()).await {
            Ok(Some((record, Credential::Session))) => {
                Ok(WebUser { record, csrf: auth::csrf_token(&token), session_token: token })
            }
            Ok(_) => Err(to_login(true)),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// What the `next` parameter escapes of a path: all but unreserved characters and `/`.
const NEXT_ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Percent-encodes a path for the `next` parameter.
fn urlencoding(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, NEXT_ESCAPED).to_string()
}

/// Why a page could not be shown or a form not done (the API's error), as a page in Chinese.
pub(crate) struct PageError(pub(crate) ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError(error) = self;
        let code = error.code();
        let (title, explanation) = match code {
            ErrorCode::Forbidden => ("没有权限", "您的角色不能做这个操作。"),
            ErrorCode::NotFound => ("找不到", "要找的记录不存在,可能已被合并或删除。"),
            ErrorCode::Conflict => (
                "操作未完成",
                "记录现在的状态不允许这样做(例如租约已过期、任务已由他人处理、补偿已被审批)。请刷新后再看。",
            ),
            ErrorCode::Internal => ("系统出错", "系统暂时出错,请稍后再试;详情已记入服务器日志。"),
            _ => ("请检查填写的内容", "提交的内容无法处理。"),
        };
        // The desk's own words are English; a page's own checks already speak Chinese.
        let message = error.message();
        let chinese = message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        let (message, detail) = if chinese { (message, None) } else { (explanation, Some(message)) };
        // Not `message`: the frame shows that as a notice above every page.
        render(code.status(), "problem.html", context! { title, problem => message, detail })
    }
}

/// `error` as the place it answers for speaks: JSON for the API (and WeChat's callback), a
/// page for the pages.
pub(crate) fn error_for(path: &str, error: ApiError) -> Response {
    if path.starts_with("/api/") || path.starts_with("/wechat/") {
        error.into_response()
    } else {
        PageError(error).into_response()
    }
}

/// `path` when it is a path of this site that a redirect may name: it starts with one `/`, and
/// holds only visible ASCII without `\` — browsers drop tabs and line breaks from a URL
/// (`/<TAB>/evil.example` becomes `//evil.example`, another site) and a header cannot carry
/// control characters at all.
pub(crate) fn local_path(path: &str) -> Option<&str> {
    let visible = path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    (visible && path.starts_with('/') && !path.starts_with("//")).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(local_path("/desk/tasks/1?offer=pending"), Some("/desk/tasks/1?offer=pending"));
        let outside = [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/desk/\u{1}",
            "/desk/\u{7f}",
            "/desk/ x",
            "",
            "desk",
        ];
        for path in outside {
            assert_eq!(local_path(path), None, "{path:?}");
        }
    }

    #[test]
    fn the_way_back_after_login_is_escaped() {
        assert_eq!(urlencoding("/desk/tasks/1?x=a&b"), "/desk/tasks/1%3Fx%3Da%26b");
    }

    #[test]
    fn every_template_parses_and_times_read_in_the_zone() {
        LazyLock::force(&TEMPLATES);
        assert_eq!(local_time("2026-12-01T02:30:00Z".into(), "Asia/Shanghai".into(), None), "12-01 10:30");
        assert_eq!(local_time("not a time".into(), "Asia/Shanghai".into(), None), "not a time");
    }
}
