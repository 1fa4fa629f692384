//! The inbox end to end over loopback, on SQLite and (when
//! HEMALENS_TEST_POSTGRES is set) on PostgreSQL: real bundles of a real
//! session, the tus receiver, refusals of bad input with nothing stored,
//! the SMS webhook, the review page's login and forms, and reviews pulled
//! back by the device.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends, now_ms, Browser, Inbox, Phone};
use hemalens_inbox::web::auth::Role;
use hemalens_share::bundle::Kind;

const PW: &str = "correct horse battery";

#[test]
fn results_then_photos_make_one_case_in_urgency_order() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let phone = Phone::new();
        inbox.enrol(&phone);
        let to = inbox.recipient();
        // Three sessions: an older inconclusive, a newer refer, an oldest "no abnormality".
        let t = now_ms() - 3_600_000;
        let recs = [
            phone.record(1, Some("inconclusive"), t + 1000),
            phone.record(2, Some("refer"), t + 2000),
            phone.record(3, Some("no_abnormality_detected"), t),
        ];
        for r in &recs {
            let (id, sealed) = phone.results(&to, r);
            assert_eq!(phone.upload(&inbox.url, &id, Kind::Results, &sealed, 4096), "delivered", "{kind}");
        }
        let (id, sealed) = phone.photos_bundle(&to, &recs[1]);
        assert!(sealed.len() > 50_000);
        assert_eq!(phone.upload(&inbox.url, &id, Kind::Photos, &sealed, 32 * 1024), "delivered");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 3);
        assert_eq!(inbox.count("SELECT COUNT(*) FROM bundles"), 4);
        assert_eq!(inbox.count("SELECT COUNT(*) FROM upload_chunks"), 0, "chunks are dropped once filed");

        inbox.add_user("amensah", "Dr A. Mensah", Role::Reviewer, PW);
        let mut b = Browser::new(&inbox.url);
        assert_eq!(b.login("amensah", PW).status, 303);
        let q = b.get("/queue");
        assert_eq!(q.status, 200);
        let pos = |uid: &str| q.body.find(uid).unwrap_or_else(|| panic!("{uid} on the queue"));
        assert!(pos(&recs[1].uid) < pos(&recs[0].uid), "refer before inconclusive");
        assert!(pos(&recs[0].uid) < pos(&recs[2].uid), "inconclusive before no abnormality");
        assert!(q.header("Server-Timing").is_some());

        let case = inbox.count("SELECT id FROM cases WHERE patient = 'P-0042' AND photos_at IS NOT NULL");
        let page = b.get(&format!("/cases/{case}"));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("P-0042") && page.body.contains("Differential"));
        let cells = page.body.matches("class=\"cell").count();
        assert!(cells >= 4, "every cell in the gallery ({cells})");
        assert!(page.body.contains("rect x="), "boxes drawn over the fields");
        let img = b.get(&format!("/cases/{case}/files/view/cell-0-0.jpg"));
        assert_eq!(img.status, 200);
        assert_eq!(img.header("Content-Type"), Some("image/jpeg"));
        let pdf = b.get(&format!("/cases/{case}/report.pdf"));
        assert!(pdf.bytes.starts_with(b"%PDF-"));
    }
}

#[test]
fn the_tus_receiver_takes_each_chunk_once() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let phone = Phone::new();
        inbox.enrol(&phone);
        let rec = phone.record(7, None, now_ms());
        let (id, sealed) = phone.results(&inbox.recipient(), &rec);
        let c = phone.create(&inbox.url, &id, Kind::Results, sealed.len() as u64);
        assert_eq!(c.status, 201);
        assert_eq!(c.header("Tus-Resumable"), Some("1.0.0"));
        let loc = format!("{}{}", inbox.url, c.header("Location").unwrap());
        // A creation repeated because its answer was lost: the same upload.
        let again = phone.create(&inbox.url, &id, Kind::Results, sealed.len() as u64);
        assert_eq!((again.status, again.header("Location")), (200, c.header("Location")));
        let a = phone.patch(&loc, 0, &sealed[..1000]);
        assert_eq!((a.status, a.header("Upload-Offset")), (204, Some("1000")));
        // The same chunk again (a retry after a lost answer): 409, nothing changes.
        let dup = phone.patch(&loc, 0, &sealed[..1000]);
        assert_eq!((dup.status, dup.header("Upload-Offset")), (409, Some("1000")));
        // A chunk from the future (reordered): 409.
        assert_eq!(phone.patch(&loc, 2000, &sealed[2000..3000]).status, 409);
        assert_eq!(phone.head(&loc).header("Upload-Offset"), Some("1000"));
        // More bytes than the upload has: 413, nothing taken.
        let mut long = sealed[1000..].to_vec();
        long.extend_from_slice(b"endless");
        assert_eq!(phone.patch(&loc, 1000, &long).status, 413);
        let fin = phone.patch(&loc, 1000, &sealed[1000..]);
        assert_eq!(fin.header("Hemalens-Verdict"), Some("delivered"));
        // After delivery: HEAD and a repeated creation say so.
        assert_eq!(phone.head(&loc).header("Hemalens-Verdict"), Some("delivered"));
        let late = phone.create(&inbox.url, &id, Kind::Results, sealed.len() as u64);
        assert_eq!(late.header("Hemalens-Verdict"), Some("delivered"));
        assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 1);
        assert_eq!(inbox.count("SELECT COUNT(*) FROM bundles"), 1);
        assert_eq!(phone.head(&format!("{}/tus/{}", inbox.url, "0".repeat(32))).status, 404);
    }
}

/// A refused request stores nothing and the inbox goes on serving others.
fn still_serves(inbox: &Inbox, good: &Phone, n: i64) {
    let rec = good.record(1000 + n, None, now_ms());
    let (id, sealed) = good.results(&inbox.recipient(), &rec);
    assert_eq!(good.upload(&inbox.url, &id, Kind::Results, &sealed, 8192), "delivered");
}

#[test]
fn bad_senders_and_bad_bundles_are_refused_with_nothing_stored() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let good = Phone::new();
        inbox.enrol(&good);
        let to = inbox.recipient();
        let mut served = 0;
        let cases = |inbox: &Inbox| inbox.count("SELECT COUNT(*) FROM cases");

        // An unenrolled device cannot even create an upload.
        let stranger = Phone::new();
        let rec = stranger.record(1, None, now_ms());
        let (id, sealed) = stranger.results(&to, &rec);
        assert_eq!(stranger.create(&inbox.url, &id, Kind::Results, sealed.len() as u64).status, 403);
        // A creation signed by another key, claiming the enrolled device's id.
        let (id, sealed) = good.results(&to, &good.record(2, None, now_ms()));
        let a = good.create_signed_by(
            &inbox.url,
            &id,
            Kind::Results,
            sealed.len() as u64,
            &stranger.identity,
            now_ms(),
        );
        assert_eq!(a.status, 403);
        // A stale date (a replayed creation from long ago).
        let a = good.create_signed_by(
            &inbox.url,
            &id,
            Kind::Results,
            sealed.len() as u64,
            &good.identity,
            now_ms() - 3_600_000,
        );
        assert_eq!(a.status, 401);
        // No signature at all.
        let a = common::answer(
            good.agent
                .post(format!("{}/tus/", inbox.url))
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", "10")
                .send_empty(),
        );
        assert_eq!(a.status, 401);
        // Too large.
        let a = good.create(&inbox.url, &hemalens_share::bundle::new_bundle_id(), Kind::Photos, 600 << 20);
        assert_eq!(a.status, 413);
        assert_eq!(cases(&inbox), 0);
        still_serves(&inbox, &good, served);
        served += 1;

        let refused = |sealed: &[u8], id: &str| good.upload(&inbox.url, id, Kind::Results, sealed, 4096);
        // A tampered bundle (one byte changed).
        let (id, mut sealed) = good.results(&to, &good.record(3, None, now_ms()));
        let mid = sealed.len() / 2;
        sealed[mid] ^= 1;
        assert_eq!(refused(&sealed, &id), "refused undecryptable");
        // A bundle for another hospital's key.
        let other = age::x25519::Identity::generate().to_public();
        let (id, sealed) = good.results(&other, &good.record(4, None, now_ms()));
        assert_eq!(refused(&sealed, &id), "refused undecryptable");
        // A bundle sealed by the stranger, uploaded by the enrolled phone.
        let (id, sealed) = stranger.results(&to, &stranger.record(5, None, now_ms()));
        assert_eq!(refused(&sealed, &id), "refused unknown_device");
        // Malformed content, correctly signed: bad FHIR, bad JSON.
        let rec = good.record(6, None, now_ms());
        let mut parts = hemalens_share::contents::results(&rec).unwrap();
        parts[0].data = br#"{"resourceType":"Patient"}"#.to_vec();
        let (id, sealed) = good.seal_parts(&to, Kind::Results, &rec.uid, &parts);
        assert_eq!(refused(&sealed, &id), "refused malformed");
        parts[0].data = b"{not json".to_vec();
        let (id, sealed) = good.seal_parts(&to, Kind::Results, &rec.uid, &parts);
        assert_eq!(refused(&sealed, &id), "refused malformed");
        let mut parts = hemalens_share::contents::results(&rec).unwrap();
        parts[2].data = br#"{"uid": 3}"#.to_vec();
        let (id, sealed) = good.seal_parts(&to, Kind::Results, &rec.uid, &parts);
        assert_eq!(refused(&sealed, &id), "refused malformed");
        // Another device's session uid inside a good signature.
        let other_uid = format!("{}-6", stranger.identity.id());
        let parts = hemalens_share::contents::results(&rec).unwrap();
        let (id, sealed) = good.seal_parts(&to, Kind::Results, &other_uid, &parts);
        assert_eq!(refused(&sealed, &id), "refused malformed");
        assert_eq!(cases(&inbox), served, "a refused bundle leaves no case");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM upload_chunks"), 0);
        still_serves(&inbox, &good, served);
        served += 1;

        // A replay: a delivered bundle's bytes again under a new upload.
        let (id, sealed) = good.results(&to, &good.record(8, None, now_ms()));
        assert_eq!(refused(&sealed, &id), "delivered");
        let new_id = hemalens_share::bundle::new_bundle_id();
        assert_eq!(refused(&sealed, &new_id), "refused replayed");
        assert_eq!(cases(&inbox), served + 1);
        still_serves(&inbox, &good, served);

        // A revoked device is refused from then on.
        inbox.block(hemalens_inbox::devices::revoke(&inbox.state.db, &good.identity.id(), "test")).unwrap();
        let (id, sealed) = good.results(&to, &good.record(9, None, now_ms()));
        assert_eq!(good.create(&inbox.url, &id, Kind::Results, sealed.len() as u64).status, 403);
    }
}

#[test]
fn an_sms_makes_the_case_and_its_bundle_fills_it() {
    for kind in backends() {
        let config =
            hemalens_inbox::Config { sms_token: Some("gateway-secret".into()), ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let url = common::fresh_db(kind, dir.path());
        let inbox = Inbox::start_on(&url, age::x25519::Identity::generate(), config);
        let phone = Phone::new();
        inbox.enrol(&phone);
        let rec = phone.record(11, Some("refer"), now_ms());
        let text = hemalens_share::sms::encode(&rec);
        let post = |token: &str, body: String| {
            common::answer(
                phone
                    .agent
                    .post(format!("{}/api/v1/sms", inbox.url))
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes()),
            )
        };
        let msg = serde_json::json!({"from": "+000000", "text": text}).to_string();
        assert_eq!(post("wrong", msg.clone()).status, 401);
        let garbled = serde_json::json!({"from": "+000000", "text": text.replace("REF", "NAD")}).to_string();
        assert_eq!(post("gateway-secret", garbled).status, 422, "the check code catches a changed outcome");
        assert_eq!(post("gateway-secret", "{\"text\": 5}".into()).status, 400);
        let stranger = Phone::new();
        let other = hemalens_share::sms::encode(&stranger.record(1, None, now_ms()));
        assert_eq!(post("gateway-secret", serde_json::json!({"text": other}).to_string()).status, 403);
        assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 0);

        let a = post("gateway-secret", msg.clone());
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(post("gateway-secret", msg).status, 200, "a repeated SMS is fine");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM sms_messages"), 1);
        assert_eq!(inbox.count("SELECT urgency FROM cases"), 0, "an SMS referral is urgent at once");
        // A form-encoded gateway.
        let rec2 = phone.record(12, None, now_ms());
        let form = common::answer(
            phone
                .agent
                .post(format!("{}/api/v1/sms", inbox.url))
                .header("Authorization", "Bearer gateway-secret")
                .send_form([("From", "+1"), ("Body", hemalens_share::sms::encode(&rec2).as_str())]),
        );
        assert_eq!(form.status, 200, "{}", form.body);
        let (id, sealed) = phone.results(&inbox.recipient(), &rec);
        assert_eq!(phone.upload(&inbox.url, &id, Kind::Results, &sealed, 8192), "delivered");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 2, "the bundle filled the SMS's case");
        assert_eq!(
            inbox.count("SELECT COUNT(*) FROM cases WHERE sms IS NOT NULL AND results_at IS NOT NULL"),
            1
        );
    }
}

#[test]
fn login_sessions_csrf_roles_and_brute_force() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        inbox.add_user("rev", "Dr Reviewer", Role::Reviewer, PW);
        inbox.add_user("boss", "Admin", Role::Admin, PW);
        let mut b = Browser::new(&inbox.url);
        let root = b.get("/");
        assert_eq!(root.status, 200);
        assert!(root.body.contains("type=\"password\""), "the login page at /");
        assert_eq!(b.get("/queue").status, 303, "the queue needs a login");
        assert_eq!(b.login("rev", "wrong password").status, 401);
        assert_eq!(b.login("nobody", "wrong password").status, 401);
        let ok = b.login("rev", PW);
        assert_eq!(ok.status, 303);
        let cookie = ok.header("Set-Cookie").unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let q = b.get("/queue");
        assert_eq!(q.status, 200);
        assert_eq!(b.get("/admin").status, 403, "a reviewer is not an administrator");
        // A form without the session's CSRF token is refused.
        assert_eq!(b.post("/logout", &[("csrf", "forged")]).status, 403);
        let csrf = Browser::csrf(&q.body);
        assert_eq!(b.post("/logout", &[("csrf", &csrf)]).status, 303);
        assert_eq!(b.get("/queue").status, 303, "logged out");

        // An expired session sends the reviewer back to the login page.
        let mut e = Browser::new(&inbox.url);
        e.login("rev", PW);
        inbox
            .block(sqlx::query("UPDATE web_sessions SET expires_at = 0").execute(&inbox.state.db.pool))
            .unwrap();
        let gone = e.get("/queue");
        assert_eq!((gone.status, gone.header("Location")), (303, Some("/login")));
        assert!(e.get("/login").body.contains("expired"));

        // Brute force: the sixth try within 15 minutes is refused even with the right password.
        let mut x = Browser::new(&inbox.url);
        for _ in 0..5 {
            assert_eq!(x.login("boss", "guess guess guess").status, 401);
        }
        assert_eq!(x.login("boss", PW).status, 429);
        // Others still log in.
        let mut y = Browser::new(&inbox.url);
        assert_eq!(y.login("rev", PW).status, 303);
        let failures = inbox.count("SELECT COUNT(*) FROM login_failures");
        assert!(failures >= 7);
    }
}

#[test]
fn reviews_travel_back_to_the_device_that_sent_the_case() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let phone = Phone::new();
        let other = Phone::new();
        inbox.enrol(&phone);
        inbox.enrol(&other);
        let to = inbox.recipient();
        let rec = phone.record(21, Some("inconclusive"), now_ms());
        let (id, sealed) = phone.photos_bundle(&to, &rec);
        assert_eq!(phone.upload(&inbox.url, &id, Kind::Photos, &sealed, 65536), "delivered");
        inbox.add_user("amensah", "Dr A. Mensah", Role::Reviewer, PW);
        let mut b = Browser::new(&inbox.url);
        b.login("amensah", PW);
        let case = inbox.count("SELECT id FROM cases");
        let page = b.get(&format!("/cases/{case}"));
        let csrf = Browser::csrf(&page.body);
        let cell = rec.fields.iter().find(|f| !f.report.cells.is_empty()).unwrap();
        let sel = format!("{}-0", cell.seq);
        assert_eq!(
            b.post(
                &format!("/cases/{case}/relabel"),
                &[("csrf", &csrf), ("cell", &sel), ("label", "not-a-class")]
            )
            .status,
            400
        );
        assert_eq!(
            b.post(
                &format!("/cases/{case}/relabel"),
                &[("csrf", &csrf), ("cell", "99-0"), ("label", "lymphocyte")]
            )
            .status,
            400
        );
        let r = b.post(
            &format!("/cases/{case}/relabel"),
            &[("csrf", &csrf), ("cell", &sel), ("label", "monocyte")],
        );
        assert_eq!(r.status, 303);
        let r = b.post(
            &format!("/cases/{case}/review"),
            &[("csrf", &csrf), ("action", "override"), ("outcome", "refer"), ("note", "")],
        );
        assert_eq!(r.status, 400, "an override needs a reason");
        let r = b.post(
            &format!("/cases/{case}/review"),
            &[("csrf", &csrf), ("action", "confirm"), ("note", "agree")],
        );
        assert_eq!(r.status, 303);
        assert!(b.get(&format!("/cases/{case}")).body.contains("monocyte"));

        // Another device sees none of them; an unsigned pull is refused.
        let none = other.api(&inbox.url, "GET", "/api/v1/reviews", b"");
        assert_eq!(none.status, 200);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&none.body).unwrap()["reviews"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            common::answer(phone.agent.get(format!("{}/api/v1/reviews", inbox.url)).call()).status,
            401
        );
        let stranger = Phone::new();
        assert_eq!(stranger.api(&inbox.url, "GET", "/api/v1/reviews", b"").status, 403);

        let pulled = phone.api(&inbox.url, "GET", "/api/v1/reviews", b"");
        assert_eq!(pulled.status, 200);
        let v: serde_json::Value = serde_json::from_str(&pulled.body).unwrap();
        let reviews = v["reviews"].as_array().unwrap();
        assert_eq!(reviews.len(), 2);
        assert_eq!(reviews[0]["kind"], "relabel_cell");
        assert_eq!(reviews[0]["label"], "monocyte");
        assert_eq!(reviews[0]["field"], cell.seq);
        assert_eq!(reviews[0]["session_uid"], rec.uid.as_str());
        assert_eq!(reviews[1]["kind"], "confirm");
        assert_eq!(reviews[1]["reviewer"], "Dr A. Mensah");
        assert_eq!(v["more"], false);
        // Until acknowledged they come again; after, never.
        let again = phone.api(&inbox.url, "GET", "/api/v1/reviews", b"");
        assert!(again.body.contains("monocyte"));
        let ids: Vec<&str> = reviews.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let body = serde_json::json!({ "ids": ids }).to_string();
        // The other device cannot acknowledge them away.
        assert_eq!(other.api(&inbox.url, "POST", "/api/v1/reviews/ack", body.as_bytes()).status, 204);
        assert!(phone.api(&inbox.url, "GET", "/api/v1/reviews", b"").body.contains("monocyte"));
        assert_eq!(phone.api(&inbox.url, "POST", "/api/v1/reviews/ack", body.as_bytes()).status, 204);
        let after = phone.api(&inbox.url, "GET", "/api/v1/reviews", b"");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&after.body).unwrap()["reviews"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert!(b.get(&format!("/cases/{case}")).body.contains("(on the phone)"));
    }
}

#[test]
fn the_admin_page_shows_the_hospital_card_phones_scan() {
    // SQLite only: the card is configuration, not data.
    let dir = tempfile::tempdir().unwrap();
    let url = common::fresh_db("sqlite", dir.path());
    let config = hemalens_inbox::Config {
        public_url: Some("https://inbox.hospital.example/".into()),
        hospital_name: "Central Hospital".into(),
        ..Default::default()
    };
    let inbox = Inbox::start_on(&url, age::x25519::Identity::generate(), config);
    inbox.add_user("boss", "Admin", Role::Admin, PW);
    inbox.add_user("rev", "Dr Reviewer", Role::Reviewer, PW);
    let mut b = Browser::new(&inbox.url);
    b.login("boss", PW);
    let page = b.get("/admin");
    assert_eq!(page.status, 200);
    let start = page.body.find("<code class=\"card\">").expect("the card on the page") + 19;
    let line = &page.body[start..];
    let line = &line[..line.find('<').unwrap()].replace("&amp;", "&");
    let card = hemalens_share::card::HospitalCard::parse(line).expect("a card the phones read");
    assert_eq!(card.name, "Central Hospital");
    assert_eq!(card.url, "https://inbox.hospital.example/tus/");
    assert_eq!(card.recipient, inbox.recipient().to_string());
    assert!(card.photos_on_wifi_only);
    let svg = b.get("/admin/card.svg");
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.body.contains("<svg") && svg.body.len() > 2000, "a QR code");
    let mut r = Browser::new(&inbox.url);
    r.login("rev", PW);
    assert_eq!(r.get("/admin/card.svg").status, 403, "administrators only");

    // Without its public address the inbox cannot say where phones send: no card.
    std::fs::create_dir_all(dir.path().join("two")).unwrap();
    let url2 = common::fresh_db("sqlite", &dir.path().join("two"));
    let plain = Inbox::start_on(&url2, age::x25519::Identity::generate(), hemalens_inbox::Config::default());
    plain.add_user("boss", "Admin", Role::Admin, PW);
    let mut b2 = Browser::new(&plain.url);
    b2.login("boss", PW);
    assert!(b2.get("/admin").body.contains("--public-url"));
    assert_eq!(b2.get("/admin/card.svg").status, 404);
}

#[test]
fn a_client_that_drips_its_request_head_is_cut_off_while_others_are_served() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let url = common::fresh_db("sqlite", dir.path());
    let config = hemalens_inbox::Config { header_timeout: Duration::from_secs(1), ..Default::default() };
    let inbox = Inbox::start_on(&url, age::x25519::Identity::generate(), config);
    let addr = inbox.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // And one that connects and never sends a byte.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a").unwrap();
    // A whole request on another connection meanwhile is answered at once.
    let quick = ureq::get(&format!("{}/healthz", inbox.url)).call().unwrap();
    assert_eq!(quick.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(900), "the quick request waited");
    // The slow one: a byte now and then does not keep it alive past the timeout.
    let mut answer = Vec::new();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b"a").is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = slow.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the slow client was held {took:?} ({sent} bytes sent)");
    assert!(!String::from_utf8_lossy(&answer).contains("200"), "the slow client was answered");
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the silent client was held {took:?}");
}
