//! Accounts over their life: an agent who leaves is deactivated mid-call (their access ends, the
//! call goes back to the queue), comes back, forgets a password, chooses their own; and the desk
//! never loses its last administrator, even to two administrators at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::desk::{NOON, claim, post, queue_of};
use crate::support::{Server, TestDb, both_databases, json_response};

both_databases!(
    a_deactivated_agent_loses_access_and_their_call_goes_back,
    passwords_are_reset_and_changed,
    two_administrators_deactivating_each_other_leave_one,
    two_password_changes_at_once_are_one_change,
    a_sign_in_racing_a_deactivation_opens_no_session,
    guessed_passwords_lock_the_name_for_a_while,
    guesses_from_elsewhere_do_not_lock_the_user_out,
    one_address_guessing_many_names_is_refused,
    guesses_from_many_addresses_shut_a_name_to_new_browsers_only,
    a_name_is_one_name_whatever_its_letter_case,
    two_administrators_adding_one_name_in_two_cases_make_one_user,
    alerts_reach_the_teams_supervisors_and_those_above_every_team,
);

/// A team's alerts go to its supervisors, to supervisors of no team and to administrators (who
/// oversee every team); not to another team's supervisors, nor to agents.
async fn alerts_reach_the_teams_supervisors_and_those_above_every_team(db: TestDb) {
    let mend = db.mend();
    for (name, role, team) in [
        ("zhao", "supervisor", Some("repair")),
        ("qian", "supervisor", None),
        ("sun", "supervisor", Some("frontline")),
        ("li", "admin", None),
        ("zhou", "agent", Some("repair")),
    ] {
        let email = format!("{name}@example.com");
        let mut args = vec!["user", "add", "--name", name, "--role", role, "--email", &email];
        if let Some(team) = team {
            args.extend(["--team", team]);
        }
        mend.run(&args, b"").json();
    }
    let store = db.store().await;
    let to = mend_store::users::alert_addresses(store.connection(), "repair").await.unwrap();
    assert_eq!(to, ["li@example.com", "qian@example.com", "zhao@example.com"]);
}

/// `Wang` signs in as `wang` (agents type their names as they like), and a second user whose
/// name differs only in case is refused: they would sign in as each other's slip.
async fn a_name_is_one_name_whatever_its_letter_case(db: TestDb) {
    let mend = db.mend();
    let wang = mend.add_user("wang", "agent");
    let twin = mend.run(&["user", "add", "--name", "Wang", "--role", "supervisor"], b"");
    assert_ne!(twin.status, 0, "{}", twin.stdout);
    assert!(twin.stderr.contains("`wang` already exists"), "{}", twin.stderr);
    let server = mend.serve_at(NOON);
    let (status, session) = sign_in(&server, "WANG", wang["password"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["user"]["name"], "wang", "{session}");
    let admin = mend.add_user("root", "admin")["token"].as_str().unwrap().to_owned();
    let body = json!({"name": "ROOT", "role": "agent"});
    let (status, why) = json_response(server.request(Method::POST, "/api/v1/users", &admin).json(&body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{why}");
}

/// Two administrators add `Wang` and `wang` at the same moment: the unique index cannot see
/// letter case, so only the check before the insert stands between them. The first is held open
/// after its check (on PostgreSQL until the second waits for it); the second must then find the
/// name taken, never make a twin.
async fn two_administrators_adding_one_name_in_two_cases_make_one_user(db: TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    let now = crate::support::server_now();
    let first = store.begin_write().await.unwrap();
    assert_eq!(mend_store::users::name_alike(&first, "Wang").await.unwrap(), None);
    let new = mend_store::users::NewUser {
        id: mend_core::UserId::new(),
        name: "Wang".into(),
        role: mend_core::Role::Agent,
        team: None,
        email: None,
        password_hash: "a hash".into(),
        token_hash: "a token hash".into(),
        created_at: now,
    };
    mend_store::users::insert(&first, new).await.unwrap();
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            let user = mend_server::auth::UserToAdd {
                name: "wang".into(),
                role: mend_core::Role::Agent,
                team: None,
                email: None,
            };
            mend_server::auth::add_user(&store, user, "admin:other", now).await
        })
    };
    if db.is_postgres() {
        crate::support::until_a_lock_is_awaited(&store, || second.is_finished(), "the second addition").await;
    }
    mend_store::commit(first).await.unwrap();
    let second = second.await.unwrap().map(|(user, _)| user);
    assert!(matches!(&second, Err(mend_server::auth::AddUserError::Taken(name)) if name == "Wang"), "{second:?}");
    let users = mend_store::users::list_users(store.connection()).await.unwrap();
    assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["Wang"]);
}

async fn sign_in(server: &Server, name: &str, password: &str) -> (StatusCode, Value) {
    json_response(server.client.post(server.url("/api/v1/session")).json(&json!({"name": name, "password": password})))
        .await
}

async fn status_of_mine(server: &Server, token: &str) -> StatusCode {
    server.request(Method::GET, "/api/v1/tasks?mine=true", token).send().await.expect("my tasks").status()
}

async fn a_deactivated_agent_loses_access_and_their_call_goes_back(db: TestDb) {
    let mend = db.mend();
    queue_of(&mend, 2);
    let admin = mend.add_user("boss", "admin");
    let admin = admin["token"].as_str().unwrap();
    let wang = mend.add_user("wang", "agent");
    let wang_token = wang["token"].as_str().unwrap();
    let li = mend.add_user("li", "agent");
    let li_token = li["token"].as_str().unwrap();
    let server = mend.serve_at(NOON);

    let (signed_in, session) = sign_in(&server, "wang", wang["password"].as_str().unwrap()).await;
    assert_eq!(signed_in, StatusCode::CREATED);
    let session = session["token"].as_str().unwrap().to_owned();
    let held = claim(&server, wang_token).await.expect("wang holds a call");

    let (status, listed) = server.get_json("/api/v1/users", admin).await;
    assert_eq!(status, StatusCode::OK);
    let wang_id = listed["users"].as_array().unwrap().iter().find(|u| u["name"] == "wang").unwrap()["user_id"].clone();
    let wang_id = wang_id.as_str().unwrap();
    let (status, done) =
        post(&server, &format!("/api/v1/users/{wang_id}/deactivate"), admin, json!({"reason": "离职,电话13912345678"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!((&done["user"]["active"], &done["sessions_ended"]), (&json!(false), &json!(1)));
    assert_eq!(done["tasks_released"], json!([held["task_id"]]));

    assert_eq!(status_of_mine(&server, wang_token).await, StatusCode::UNAUTHORIZED, "the API token");
    assert_eq!(status_of_mine(&server, &session).await, StatusCode::UNAUTHORIZED, "the session");
    let (again, _) = sign_in(&server, "wang", wang["password"].as_str().unwrap()).await;
    assert_eq!(again, StatusCode::UNAUTHORIZED, "the password");

    // The call wang held is anybody's again at once, not when its lease would have run out.
    let first = claim(&server, li_token).await.expect("a call");
    let second = claim(&server, li_token).await.expect("another call");
    let taken = [first["task_id"].clone(), second["task_id"].clone()];
    assert!(taken.contains(&held["task_id"]), "{taken:?} holds {}", held["task_id"]);

    let (_, log) = server.get_json(&format!("/api/v1/audit?entity=user:{wang_id}"), admin).await;
    // The command line writes at the machine's time, the server at its test clock: by action.
    let mut entries = log["entries"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["action"].as_str().unwrap().to_owned());
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.add", "user.deactivate"], "{log}");
    let deactivation = &entries[1];
    assert_eq!(deactivation["actor"], "user:boss");
    let reason = deactivation["detail"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("离职") && !reason.contains("13912345678"), "masked: {reason}");
    let (_, task_log) =
        server.get_json(&format!("/api/v1/audit?entity=task:{}", held["task_id"].as_str().unwrap()), admin).await;
    let release =
        task_log["entries"].as_array().unwrap().iter().find(|e| e["action"] == "task.release").expect("released");
    assert_eq!(release["detail"]["reason"], "account deactivated", "{task_log}");

    // The last administrator stays, whoever asks.
    let boss_id = listed["users"].as_array().unwrap().iter().find(|u| u["name"] == "boss").unwrap()["user_id"].clone();
    let (status, refused) =
        post(&server, &format!("/api/v1/users/{}/deactivate", boss_id.as_str().unwrap()), admin, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let cli = mend.command(&["user", "deactivate", "--name", "boss"]).output().unwrap();
    assert!(!cli.status.success() && String::from_utf8_lossy(&cli.stderr).contains("last active administrator"));

    let (status, back) = post(&server, &format!("/api/v1/users/{wang_id}/activate"), admin, json!({})).await;
    assert_eq!((status, &back["user"]["active"]), (StatusCode::OK, &json!(true)));
    assert_eq!(status_of_mine(&server, wang_token).await, StatusCode::OK, "back with the token they had");
    assert_eq!(status_of_mine(&server, &session).await, StatusCode::UNAUTHORIZED, "ended sessions stay ended");

    // The same from the command line, by name: li holds both calls.
    let gone = mend.run(&["user", "deactivate", "--name", "li", "--reason", "调岗"], b"").json();
    assert_eq!((&gone["active"], gone["tasks_released"].as_array().map(Vec::len)), (&json!(false), Some(2)));
    let users = mend.run(&["user", "list"], b"").json_lines();
    let states: Vec<(&str, bool)> =
        users.iter().map(|u| (u["name"].as_str().unwrap(), u["active"].as_bool().unwrap())).collect();
    assert_eq!(states, [("boss", true), ("li", false), ("wang", true)]);
}

async fn passwords_are_reset_and_changed(db: TestDb) {
    let mend = db.mend();
    let admin = mend.add_user("boss", "admin");
    let admin = admin["token"].as_str().unwrap();
    let wang = mend.add_user("wang", "agent");
    let first_password = wang["password"].as_str().unwrap();
    let server = mend.serve_at(NOON);
    let session = |answer: Value| answer["token"].as_str().expect("a session").to_owned();
    let here = session(sign_in(&server, "wang", first_password).await.1);
    let elsewhere = session(sign_in(&server, "wang", first_password).await.1);

    let change = |token: &str, current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        json_response(server.request(Method::PUT, "/api/v1/account/password", token).json(&body))
    };
    assert_eq!(change(&here, "not-mine", "a-good-new-password").await.0, StatusCode::FORBIDDEN);
    assert_eq!(change(&here, first_password, "short").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(change(&here, first_password, &" ".repeat(12)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(change(&here, first_password, "WANG").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(change(&here, first_password, first_password).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, changed) = change(&here, first_password, "长城宽带-2026-自选").await;
    assert_eq!((status, &changed["sessions_ended"]), (StatusCode::OK, &json!(1)), "{changed}");
    assert_eq!(status_of_mine(&server, &here).await, StatusCode::OK, "the session that changed it stays");
    assert_eq!(status_of_mine(&server, &elsewhere).await, StatusCode::UNAUTHORIZED, "the others end");
    assert_eq!(sign_in(&server, "wang", first_password).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&server, "wang", "长城宽带-2026-自选").await.0, StatusCode::CREATED);

    // Forgotten: an administrator hands out a new one, and every session of wang's ends.
    let (_, listed) = server.get_json("/api/v1/users", admin).await;
    let wang_id = listed["users"].as_array().unwrap().iter().find(|u| u["name"] == "wang").unwrap()["user_id"].clone();
    let (status, reset) =
        post(&server, &format!("/api/v1/users/{}/password", wang_id.as_str().unwrap()), admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(status_of_mine(&server, &here).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&server, "wang", "长城宽带-2026-自选").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&server, "wang", reset["password"].as_str().unwrap()).await.0, StatusCode::CREATED);
    // Answers with a password are not kept for an Idempotency-Key: a retry makes another one.
    let reset_path = format!("/api/v1/users/{}/password", wang_id.as_str().unwrap());
    let keyed =
        || server.request(Method::POST, &reset_path, admin).header("Idempotency-Key", "reset-1").json(&json!({}));
    let (first, second) = (json_response(keyed()).await.1, json_response(keyed()).await.1);
    assert_ne!(first["password"], second["password"], "not replayed from storage");
    let kept = crate::import::scalar(&db.store().await, "SELECT count(*) FROM idempotency_keys").await;
    assert_eq!(kept, 0, "nothing stored under the key");
    let by_cli = mend.run(&["user", "password", "--name", "wang"], b"").json();
    assert_eq!(sign_in(&server, "wang", by_cli["password"].as_str().unwrap()).await.0, StatusCode::CREATED);

    let (_, log) = server.get_json(&format!("/api/v1/audit?entity=user:{}", wang_id.as_str().unwrap()), admin).await;
    let mut actions: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("user.add", "cli"),
            ("user.password_change", "user:wang"),
            ("user.password_reset", "cli"),
            ("user.password_reset", "user:boss"),
            ("user.password_reset", "user:boss"),
            ("user.password_reset", "user:boss"),
        ]
    );
}

/// Each administrator deactivates the other at the same moment: one of them must stay. The two
/// deactivations are made to overlap (the administrators' rows are held by a third transaction
/// until both wait for them) and then run together.
async fn two_administrators_deactivating_each_other_leave_one(db: TestDb) {
    let mend = db.mend();
    mend.add_user("zhao", "admin");
    mend.add_user("qian", "admin");
    let store = db.store().await;
    let now = crate::support::server_now();
    let holder = store.begin_write().await.unwrap();
    if db.is_postgres() {
        use mend_store::ConnectionTrait;
        holder.execute_unprepared("SELECT id FROM users FOR UPDATE").await.unwrap();
    }
    let deactivate = |target: &str, by: &str| {
        let (store, key, actor) =
            (store.clone(), mend_store::users::UserKey::Name(target.into()), format!("user:{by}"));
        tokio::spawn(async move { mend_server::accounts::deactivate(&store, &key, &actor, "", now).await })
    };
    let one = deactivate("qian", "zhao");
    let other = deactivate("zhao", "qian");
    if db.is_postgres() {
        crate::support::until_locks_are_awaited(&store, 2, || one.is_finished() || other.is_finished(), "both").await;
    }
    mend_store::commit(holder).await.unwrap();
    let (one, other) = (one.await.unwrap(), other.await.unwrap());
    let refused =
        [&one, &other].iter().filter(|r| matches!(r, Err(mend_server::accounts::AccountError::LastAdmin(_)))).count();
    assert_eq!((one.is_ok() as usize + other.is_ok() as usize, refused), (1, 1), "{one:?} / {other:?}");
    let active: Vec<Value> =
        mend.run(&["user", "list"], b"").json_lines().into_iter().filter(|u| u["active"] == true).collect();
    assert_eq!(active.len(), 1, "{active:?}");
}

/// Two changes from one old password at once (two tabs, a retry): one wins, the other is told
/// the password it proved is no longer the current one, never that it succeeded.
async fn two_password_changes_at_once_are_one_change(db: TestDb) {
    let mend = db.mend();
    let wang = mend.add_user("wang", "agent");
    let old = wang["password"].as_str().unwrap().to_owned();
    let store = db.store().await;
    let key = mend_store::users::UserKey::Name("wang".into());
    let (user, _) = mend_store::users::find_user(store.connection(), &key).await.unwrap().unwrap();
    let now = crate::support::server_now();
    let change = |new: &'static str| {
        let (store, user, old) = (store.clone(), user.clone(), old.clone());
        tokio::spawn(async move { mend_server::accounts::change_password(&store, &user, &old, new, None, now).await })
    };
    let (first, second) = (change("第一个新密码-aaaa"), change("第二个新密码-bbbb"));
    let results = [first.await.unwrap(), second.await.unwrap()];
    let refused =
        results.iter().filter(|r| matches!(r, Err(mend_server::accounts::AccountError::WrongPassword))).count();
    assert_eq!((results.iter().filter(|r| r.is_ok()).count(), refused), (1, 1), "{results:?}");
}

/// A sign-in checked the password just before an administrator deactivated the account (or
/// reset the password): the session it then opens must not outlive that, so it opens none. On
/// PostgreSQL the deactivation is held open until the sign-in waits for it.
async fn a_sign_in_racing_a_deactivation_opens_no_session(db: TestDb) {
    let mend = db.mend();
    mend.add_user("boss", "admin");
    mend.add_user("wang", "agent");
    let store = db.store().await;
    let key = mend_store::users::UserKey::Name("wang".into());
    let (wang, hash) = mend_store::users::find_user(store.connection(), &key).await.unwrap().unwrap();
    let now = crate::support::server_now();
    let later = now + chrono::Duration::hours(12);
    let stale =
        mend_store::sessions::create_session(store.connection(), "t-stale", wang.user_id, "an old hash", now, later);
    assert!(!stale.await.unwrap(), "a password changed since the check opens nothing");

    let deactivation = store.begin_write().await.unwrap();
    mend_store::users::set_active(&deactivation, wang.user_id, false).await.unwrap();
    let sign_in = {
        let (store, hash) = (store.clone(), hash.clone());
        tokio::spawn(async move {
            mend_store::sessions::create_session(store.connection(), "t-race", wang.user_id, &hash, now, later).await
        })
    };
    if db.is_postgres() {
        crate::support::until_a_lock_is_awaited(&store, || sign_in.is_finished(), "the sign-in").await;
    }
    mend_store::commit(deactivation).await.unwrap();
    assert!(!sign_in.await.unwrap().unwrap(), "no session for an account deactivated meanwhile");
    let opened = mend_store::sessions::create_session(store.connection(), "t-ok", wang.user_id, &hash, now, later);
    assert!(!opened.await.unwrap(), "nor after");
}

/// A client on another address than the server's own (loopback has them all).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(address.parse::<std::net::IpAddr>().ok()).build().unwrap()
}

async fn sign_in_with(server: &Server, client: &reqwest::Client, name: &str, forwarded: Option<&str>) -> StatusCode {
    let mut request = client.post(server.url("/api/v1/session")).json(&json!({"name": name, "password": "guess"}));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap().status()
}

/// Anyone can type a supervisor's name: guesses count against the name *from where they came*,
/// so the supervisor at their own desk still signs in. Behind a proxy, the address is the one
/// the proxy appends to the configured header, not one the client wrote before it.
async fn guesses_from_elsewhere_do_not_lock_the_user_out(db: TestDb) {
    let mend = db.mend();
    let zhao = mend.add_user("zhao", "supervisor");
    let password = zhao["password"].as_str().unwrap();
    let direct = mend.serve_at(NOON);
    let elsewhere = client_from("127.0.0.2");
    for _ in 0..6 {
        sign_in_with(&direct, &elsewhere, "zhao", None).await;
    }
    assert_eq!(sign_in_with(&direct, &elsewhere, "zhao", None).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_in(&direct, "zhao", password).await.0, StatusCode::CREATED, "from the supervisor's own address");

    let proxied = mend.clone().env("MEND_HTTP__CLIENT_IP_HEADER", "X-Forwarded-For").serve_at(NOON);
    for _ in 0..6 {
        sign_in_with(&proxied, &proxied.client, "zhao", Some("203.0.113.5")).await;
    }
    let locked = sign_in_with(&proxied, &proxied.client, "zhao", Some("198.51.100.1, 203.0.113.5")).await;
    assert_eq!(locked, StatusCode::TOO_MANY_REQUESTS, "an address written before the proxy's is not the client's");
    let answer = proxied
        .client
        .post(proxied.url("/api/v1/session"))
        .header("x-forwarded-for", "203.0.113.5, 203.0.113.6")
        .json(&json!({"name": "zhao", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED, "another client behind the same proxy");
}

/// One address that tries a password on name after name is refused after a hundred wrong ones,
/// whatever the name; another address is not.
async fn one_address_guessing_many_names_is_refused(db: TestDb) {
    let mend = db.mend();
    let wang = mend.add_user("wang", "agent");
    let password = wang["password"].as_str().unwrap();
    let server = mend.serve_at(NOON);
    let sprayer = client_from("127.0.0.3");
    for round in 0..10 {
        let names: Vec<String> = (0..10).map(|i| format!("user{round}-{i}")).collect();
        let guesses = names.iter().map(|name| sign_in_with(&server, &sprayer, name, None));
        let answers = futures::future::join_all(guesses).await;
        assert!(answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "round {round}: {answers:?}");
    }
    let (status, refused) =
        json_response(sprayer.post(server.url("/api/v1/session")).json(&json!({"name": "wang", "password": password})))
            .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the hundred-and-first, the right password or not");
    assert!(refused["error"]["message"].as_str().unwrap().contains("from this address"), "{refused}");
    assert_eq!(sign_in(&server, "wang", password).await.0, StatusCode::CREATED, "from another address");
}

/// Guesses at one name from many addresses, each under its own limits (a botnet), shut the name
/// to browsers it never signed in from, for a quarter of an hour after the last guess; the
/// browser its owner signed in from before still signs them in, and other names are not shut.
async fn guesses_from_many_addresses_shut_a_name_to_new_browsers_only(db: TestDb) {
    let mend = db.mend();
    let qian = mend.add_user("qian", "supervisor");
    let password = qian["password"].as_str().unwrap();
    let wang = mend.add_user("wang", "agent");
    let server = mend.serve_at(NOON);
    let right = json!({"name": "qian", "password": password});
    let at_the_desk = server.client.post(server.url("/api/v1/session")).json(&right).send().await.unwrap();
    assert_eq!(at_the_desk.status(), StatusCode::CREATED);
    let cookies: Vec<&str> =
        at_the_desk.headers().get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    let remembered = cookies.iter().find(|c| c.starts_with("mend_device=")).expect("the browser is remembered");
    assert!(remembered.contains("HttpOnly") && remembered.contains("SameSite=Strict"), "{remembered}");
    let device = remembered.split(';').next().unwrap().to_owned();

    for bot in 1..=10 {
        let bot = client_from(&format!("127.0.1.{bot}"));
        for _ in 0..3 {
            assert_eq!(sign_in_with(&server, &bot, "qian", None).await, StatusCode::UNAUTHORIZED);
        }
    }
    let new_browser = client_from("127.0.2.1");
    let session = || new_browser.post(server.url("/api/v1/session"));
    let (status, refused) = json_response(session().json(&right)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the right password, from a new browser: {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("many addresses"), "{refused}");
    let known = session().header(reqwest::header::COOKIE, &device).json(&right).send().await.unwrap();
    assert_eq!(known.status(), StatusCode::CREATED, "the browser it signed in from before");
    let forged = format!("{}x", device.trim_end_matches(|c: char| c != '.'));
    let (status, _) = json_response(session().header(reqwest::header::COOKIE, forged).json(&right)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a cookie mend did not sign");
    let other = json!({"name": "wang", "password": wang["password"]});
    assert_eq!(json_response(session().json(&other)).await.0, StatusCode::CREATED, "another name");

    let later = mend.serve_at("2026-11-26T12:16:00+08:00");
    let (status, opened) = json_response(new_browser.post(later.url("/api/v1/session")).json(&right)).await;
    assert_eq!(status, StatusCode::CREATED, "a quarter of an hour after the last guess: {opened}");
}

/// Guesses at one name, sent at once to two instances: each is counted (the count is one
/// statement in the shared database), the fifth locks the name — right password or not, known
/// name or not — and the lock lapses after a quarter of an hour.
async fn guessed_passwords_lock_the_name_for_a_while(db: TestDb) {
    let mend = db.mend();
    let wang = mend.add_user("wang", "agent");
    let password = wang["password"].as_str().unwrap();
    let servers = [mend.serve_at(NOON), mend.serve_at(NOON)];

    // Two slips and the right password: nothing held against the agent.
    for _ in 0..2 {
        assert_eq!(sign_in(&servers[0], "wang", "slip").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in(&servers[0], "wang", password).await.0, StatusCode::CREATED);
    for _ in 0..4 {
        assert_eq!(sign_in(&servers[1], "wang", "slip").await.0, StatusCode::UNAUTHORIZED, "the streak began again");
    }
    assert_eq!(sign_in(&servers[1], "wang", password).await.0, StatusCode::CREATED);

    let guesses = (0..8).map(|i| sign_in(&servers[i % 2], if i % 3 == 0 { " WANG " } else { "wang" }, "guess"));
    let answers: Vec<StatusCode> = futures::future::join_all(guesses).await.into_iter().map(|(s, _)| s).collect();
    assert!(
        answers.iter().all(|s| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)),
        "{answers:?}"
    );
    let checked = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(checked <= 5, "at most five of the guesses sent at once were checked: {answers:?}");
    let retry_after = servers[0]
        .client
        .post(servers[0].url("/api/v1/session"))
        .json(&json!({"name": "wang", "password": password}))
        .send()
        .await
        .unwrap()
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    assert!(retry_after.is_some_and(|s| (1..=900).contains(&s)), "{retry_after:?}");
    let (status, locked) = sign_in(&servers[0], "wang", password).await;
    assert_eq!(
        (status, &locked["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("too_many_requests")),
        "{locked}"
    );
    for _ in 0..5 {
        sign_in(&servers[1], "nobody", "guess").await;
    }
    assert_eq!(
        sign_in(&servers[1], "nobody", "guess").await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "names nobody has alike"
    );
    let (status, _) = sign_in(&servers[1], &"x".repeat(100_000), "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a name longer than any user's is wrong, and not kept");

    let later = mend.serve_at("2026-11-26T12:16:00+08:00");
    assert_eq!(sign_in(&later, "wang", password).await.0, StatusCode::CREATED, "the lock lapsed");
    for _ in 0..5 {
        sign_in(&later, "wang", "guess").await;
    }
    let reset = mend.run(&["user", "password", "--name", "wang"], b"").json();
    let new_password = reset["password"].as_str().unwrap();
    assert_eq!(sign_in(&later, "wang", new_password).await.0, StatusCode::CREATED, "a reset lifts the lock");
}
