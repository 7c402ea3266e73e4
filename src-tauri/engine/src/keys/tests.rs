//! `Keys` over a real config directory and an in-memory keychain.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;

use super::*;

const KEY: &str = "sk_live_0123456789abcdefXY";

/// A keychain the test can still reach after handing it to `Keys`.
struct Shared(Arc<MemoryKeychain>);

impl Keychain for Shared {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        self.0.get(account)
    }
    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
        self.0.set(account, secret)
    }
    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.0.delete(account)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    keychain: Arc<MemoryKeychain>,
    keys: Keys,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Arc::new(MemoryKeychain::new());
    let keys = Keys::new(
        ConfigStore::in_dir(dir.path().join("onair")),
        Box::new(Shared(Arc::clone(&keychain))),
    );
    Fixture {
        _dir: dir,
        keychain,
        keys,
    }
}

fn new(name: &str, url: &str) -> NewDestination {
    NewDestination {
        name: name.into(),
        url: url.into(),
        ..Default::default()
    }
}

fn config_text(f: &Fixture) -> String {
    fs::read_to_string(f.keys.config().path()).unwrap()
}

#[test]
fn add_puts_the_key_in_the_keychain_and_only_metadata_in_the_file() {
    let f = fixture();
    let shown = f
        .keys
        .add(
            new("main", "rtmp://ingest.example/live"),
            Some(Secret::new(KEY)),
        )
        .unwrap();
    assert_eq!(shown.kind, DestinationKind::Rtmp);
    assert_eq!(
        shown.key,
        KeyState::Stored {
            masked: "••••••••XY".into()
        }
    );
    assert_eq!(f.keychain.get("main").unwrap().unwrap().expose(), KEY);
    let text = config_text(&f);
    assert!(text.contains("rtmp://ingest.example/live"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

#[test]
fn a_key_pasted_in_the_url_is_split_into_the_keychain() {
    let f = fixture();
    f.keys
        .add(
            new("pasted", &format!("rtmp://ingest.example/live/{KEY}")),
            None,
        )
        .unwrap();
    assert_eq!(f.keychain.get("pasted").unwrap().unwrap().expose(), KEY);
    assert!(!config_text(&f).contains(KEY));
    let resolved = f.keys.resolve("pasted").unwrap();
    assert_eq!(
        resolved.destination,
        Destination::Rtmp("rtmp://ingest.example/live".into())
    );
    assert_eq!(resolved.secret.unwrap().expose(), KEY);
}

#[test]
fn network_destinations_need_a_key_and_recordings_do_not() {
    let f = fixture();
    let err = f.keys.add(new("a", "rtmp://h/app"), None).unwrap_err();
    assert!(matches!(err, KeysError::EmptySecret));
    let err = f
        .keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new("  ")))
        .unwrap_err();
    assert!(matches!(err, KeysError::EmptySecret));
    let shown = f.keys.add(new("rec", "file:/tmp/x.flv"), None).unwrap();
    assert_eq!(shown.key, KeyState::NotNeeded);
    assert_eq!(f.keys.resolve("rec").unwrap().secret, None);
}

#[test]
fn duplicate_and_unknown_names_are_usage_errors() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    let taken = f
        .keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new("other")))
        .unwrap_err();
    assert!(matches!(taken, KeysError::NameTaken(_)) && taken.is_usage());
    // The first key is untouched by the refused add.
    assert_eq!(f.keychain.get("a").unwrap().unwrap().expose(), KEY);
    for err in [
        f.keys.show("nope").unwrap_err(),
        f.keys.remove("nope").unwrap_err(),
        f.keys.rename("nope", "b").unwrap_err(),
    ] {
        assert!(matches!(err, KeysError::UnknownName { .. }), "{err}");
        assert!(err.is_usage());
        assert!(err.to_string().contains("Saved destinations: a."), "{err}");
    }
    assert!(f
        .keys
        .add(new("has/slash", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap_err()
        .is_usage());
}

#[test]
fn list_and_show_mask_every_secret() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keys
        .add(
            NewDestination {
                name: "lk".into(),
                url: "wss://lk.example".into(),
                token_url: Some("https://api.example/token".into()),
                status_url: Some("https://api.example/status".into()),
                ..Default::default()
            },
            Some(Secret::new("api_secret_abcdefghijkl")),
        )
        .unwrap();
    let listed = f.keys.list().unwrap();
    assert_eq!(listed.len(), 2);
    let json = serde_json::to_string(&listed).unwrap();
    assert!(
        !json.contains(KEY) && !json.contains("api_secret"),
        "{json}"
    );
    assert!(
        json.contains(r#""key":{"state":"stored","masked":"••••••••XY"}"#),
        "{json}"
    );
    assert!(json.contains(r#""kind":"livekit""#), "{json}");
    let debug = format!("{:?}", f.keys.show("a").unwrap());
    assert!(!debug.contains(KEY), "{debug}");
    let (_, revealed) = f.keys.reveal("a").unwrap();
    assert_eq!(revealed.expose(), KEY);
}

#[test]
fn rename_moves_the_key_and_rm_deletes_it() {
    let f = fixture();
    f.keys
        .add(new("old", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keys.rename("old", "new").unwrap();
    assert!(f.keychain.get("old").unwrap().is_none());
    assert_eq!(f.keychain.get("new").unwrap().unwrap().expose(), KEY);
    assert!(f.keys.show("old").is_err());
    f.keys.remove("new").unwrap();
    assert!(f.keychain.get("new").unwrap().is_none());
    assert!(f.keys.list().unwrap().is_empty());
}

/// A keychain whose `set` fails for one account, as a keychain that goes
/// away halfway through a rename does.
struct FailsToSet(Arc<MemoryKeychain>, String);

impl Keychain for FailsToSet {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        self.0.get(account)
    }
    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
        if account == self.1 {
            return Err(KeychainError::Locked("collection is locked".into()));
        }
        self.0.set(account, secret)
    }
    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.0.delete(account)
    }
}

const INGEST: &str = "ingest_0123456789abcdefIK";

fn journal_of(f: &Fixture) -> Journal {
    Journal::in_config_dir(f.keys.config().dir())
}

#[test]
fn rename_moves_the_ingest_key_and_the_journal_too() {
    let f = fixture();
    f.keys
        .add(new("old", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keychain
        .set(&ingest_key_account("old"), &Secret::new(INGEST))
        .unwrap();
    let captures = BTreeMap::from([("session".to_string(), "s_1".to_string())]);
    journal_of(&f).record("old", &captures).unwrap();
    // An orphan under the new name (from before this fix) is not inherited.
    f.keychain
        .set(
            &ingest_key_account("new"),
            &Secret::new("orphan_0123456789ab"),
        )
        .unwrap();

    f.keys.rename("old", "new").unwrap();
    assert!(f.keychain.get("old").unwrap().is_none());
    assert!(f
        .keychain
        .get(&ingest_key_account("old"))
        .unwrap()
        .is_none());
    assert_eq!(f.keychain.get("new").unwrap().unwrap().expose(), KEY);
    assert_eq!(
        f.keychain
            .get(&ingest_key_account("new"))
            .unwrap()
            .unwrap()
            .expose(),
        INGEST
    );
    assert_eq!(journal_of(&f).stale("old"), None);
    let moved = journal_of(&f).stale("new").unwrap();
    assert_eq!(
        (moved.destination.as_str(), moved.captures),
        ("new", captures)
    );

    // Without an ingest key of its own, a renamed destination drops the
    // orphan its new name had.
    f.keychain
        .set(
            &ingest_key_account("newer"),
            &Secret::new("orphan_0123456789ab"),
        )
        .unwrap();
    f.keychain.delete(&ingest_key_account("new")).unwrap();
    f.keys.rename("new", "newer").unwrap();
    assert!(f
        .keychain
        .get(&ingest_key_account("newer"))
        .unwrap()
        .is_none());
}

#[test]
fn a_rename_that_fails_midway_loses_nothing_and_leaves_no_copy() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Arc::new(MemoryKeychain::new());
    let keys = Keys::new(
        ConfigStore::in_dir(dir.path().join("onair")),
        Box::new(FailsToSet(Arc::clone(&keychain), ingest_key_account("new"))),
    );
    keys.add(new("old", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    keychain
        .set(&ingest_key_account("old"), &Secret::new(INGEST))
        .unwrap();
    let journal = Journal::in_config_dir(keys.config().dir());
    journal.record("old", &BTreeMap::new()).unwrap();

    let err = keys.rename("old", "new").unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable);
    assert_eq!(keys.show("old").unwrap().name, "old");
    assert_eq!(keychain.get("old").unwrap().unwrap().expose(), KEY);
    assert_eq!(
        keychain
            .get(&ingest_key_account("old"))
            .unwrap()
            .unwrap()
            .expose(),
        INGEST
    );
    assert!(journal.stale("old").is_some());
    // The main key had been copied already: that copy is gone again.
    assert!(keychain.get("new").unwrap().is_none());
    assert_eq!(journal.stale("new"), None);
}

#[test]
fn a_new_destination_with_an_ingress_hook_inherits_no_ingest_key() {
    let f = fixture();
    f.keychain
        .set(&ingest_key_account("show"), &Secret::new(INGEST))
        .unwrap();
    let hooks: PlatformHooks = serde_json::from_str(
        r#"{"ingress": {"url": "https://p.example/ingress", "read": {"key": "/key"}}}"#,
    )
    .unwrap();
    f.keys
        .add(
            NewDestination {
                platform: Some(hooks),
                ..new("show", "rtmp://h/app")
            },
            Some(Secret::new(KEY)),
        )
        .unwrap();
    assert!(f
        .keychain
        .get(&ingest_key_account("show"))
        .unwrap()
        .is_none());
}

#[test]
fn rm_deletes_the_ingest_key_and_the_journal() {
    let f = fixture();
    f.keys
        .add(new("gone", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keychain
        .set(&ingest_key_account("gone"), &Secret::new(INGEST))
        .unwrap();
    journal_of(&f).record("gone", &BTreeMap::new()).unwrap();
    f.keys.remove("gone").unwrap();
    assert!(f
        .keychain
        .get(&ingest_key_account("gone"))
        .unwrap()
        .is_none());
    assert_eq!(journal_of(&f).stale("gone"), None);
}

#[test]
fn rotate_replaces_the_key() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keys
        .rotate("a", Secret::new("sk_rotated_000000"))
        .unwrap();
    assert_eq!(
        f.keys.resolve("a").unwrap().secret.unwrap().expose(),
        "sk_rotated_000000"
    );
}

#[test]
fn a_missing_key_is_key_missing() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keychain.delete("a").unwrap();
    assert_eq!(f.keys.show("a").unwrap().key, KeyState::Missing);
    let err = f.keys.resolve("a").unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeyMissing);
    assert!(!err.is_usage());
    assert_eq!(
        f.keys.reveal("a").unwrap_err().code(),
        ErrorCode::KeyMissing
    );
}

#[test]
fn keychain_failures_change_nothing() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    f.keychain
        .fail_with(Some(KeychainError::Locked("collection is locked".into())));
    let before = config_text(&f);
    let err = f
        .keys
        .add(new("b", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable);
    assert!(err.to_string().contains("Unlock it"), "{err}");
    assert!(f.keys.remove("a").is_err());
    assert!(f.keys.rename("a", "c").is_err());
    assert_eq!(config_text(&f), before);
    f.keychain.fail_with(None);
    assert_eq!(f.keys.list().unwrap().len(), 1);
}

#[test]
fn urls_with_credentials_are_refused() {
    let f = fixture();
    let err = f
        .keys
        .add(
            new("lk", "wss://lk.example?access_token=eyJhbGciOi"),
            Some(Secret::new(KEY)),
        )
        .unwrap_err();
    assert!(err.is_usage());
    assert!(!err.to_string().contains("eyJhbGciOi"), "{err}");
    assert!(!f.keys.config().path().exists());
}

#[test]
fn resolve_uses_urls_as_typed_and_names_from_the_store() {
    let f = fixture();
    let adhoc = f
        .keys
        .resolve(&format!("rtmps://h:443/live2/{KEY}"))
        .unwrap();
    assert_eq!(
        adhoc.destination,
        Destination::Rtmp("rtmps://h:443/live2".into())
    );
    assert_eq!(adhoc.secret.unwrap().expose(), KEY);
    assert!(adhoc.saved.is_none());
    assert_eq!(
        f.keys.resolve("file:out.flv").unwrap().destination,
        Destination::File("out.flv".into())
    );
    let err = f.keys.resolve("twitch").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidDestination);
    assert!(
        err.to_string().contains("No destinations are saved yet"),
        "{err}"
    );
    // Ad-hoc URLs work without any keychain at all.
    f.keychain
        .fail_with(Some(KeychainError::Unavailable("no bus".into())));
    assert!(f.keys.resolve("rtmp://h/app").is_ok());
}

#[test]
fn obs_import_creates_a_destination_from_the_profile() {
    let f = fixture();
    let obs = tempfile::tempdir().unwrap();
    let profile = obs.path().join("basic/profiles/Untitled");
    fs::create_dir_all(&profile).unwrap();
    fs::write(
        profile.join("service.json"),
        format!(r#"{{"type":"rtmp_common","settings":{{"service":"Twitch","server":"auto","key":"{KEY}"}}}}"#),
    )
    .unwrap();
    let imported = f.keys.import_obs(Some(obs.path()), None).unwrap();
    assert_eq!(imported.service, "Twitch");
    assert_eq!(imported.profile, "Untitled");
    assert_eq!(imported.destination.name, "twitch");
    assert_eq!(f.keychain.get("twitch").unwrap().unwrap().expose(), KEY);
    assert!(!format!("{imported:?}").contains(KEY));
    // A second import under the same name is refused; --name picks another.
    assert!(matches!(
        f.keys.import_obs(Some(obs.path()), None),
        Err(KeysError::NameTaken(_))
    ));
    f.keys.import_obs(Some(&profile), Some("twitch2")).unwrap();
}

#[test]
fn a_corrupt_config_is_reported_and_kept() {
    let f = fixture();
    f.keys
        .add(new("a", "rtmp://h/app"), Some(Secret::new(KEY)))
        .unwrap();
    fs::write(f.keys.config().path(), "{\"version\":1,\"destinations\":[{").unwrap();
    let err = f.keys.list().unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidDestination);
    assert!(err.to_string().contains(".corrupt-"), "{err}");
}

#[test]
fn a_whole_url_pasted_as_the_key_gives_its_key() {
    let f = fixture();
    let pasted = Secret::new(format!("rtmp://ingest.example/live/{KEY}\n"));
    f.keys
        .add(new("a", "rtmp://ingest.example/live"), Some(pasted))
        .unwrap();
    assert_eq!(f.keychain.get("a").unwrap().unwrap().expose(), KEY);
    let other = Secret::new(format!("rtmp://elsewhere.example/live/{KEY}"));
    let err = f.keys.rotate("a", other).unwrap_err();
    assert!(matches!(err, KeysError::KeyIsOtherUrl(_)) && err.is_usage());
    assert!(!err.to_string().contains(KEY), "{err}");
    assert_eq!(f.keychain.get("a").unwrap().unwrap().expose(), KEY);
}

#[test]
fn edit_changes_endpoints_keeps_the_key_and_refuses_another_kind() {
    let f = fixture();
    let added = f
        .keys
        .add(
            new("main", "rtmp://ingest.example/live"),
            Some(Secret::new(KEY)),
        )
        .unwrap();
    let edited = f
        .keys
        .edit(
            "main",
            DestinationEdit {
                url: added.url.clone(),
                status_url: Some("http://platform.example/status".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        edited.status_url.as_deref(),
        Some("http://platform.example/status")
    );
    assert_eq!(f.keychain.get("main").unwrap().unwrap().expose(), KEY);

    let moved = f
        .keys
        .edit(
            "main",
            DestinationEdit {
                url: "rtmp://other.example/app/sk_pasted_0000000042".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(moved.url, "rtmp://other.example/app");
    assert_eq!(moved.status_url, None);
    assert_eq!(
        f.keychain.get("main").unwrap().unwrap().expose(),
        "sk_pasted_0000000042"
    );
    assert!(!config_text(&f).contains("sk_pasted"));

    let refused = f
        .keys
        .edit(
            "main",
            DestinationEdit {
                url: "wss://lk.example".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(refused.is_usage(), "{refused}");
    assert!(f.keys.edit("nope", DestinationEdit::default()).is_err());
}

#[test]
fn a_secret_that_would_travel_in_clear_is_refused_when_saved() {
    let f = fixture();
    let key = || Some(Secret::new(KEY));
    for url in ["ws://lk.example:7880", "http://whip.example/whip"] {
        let e = f.keys.add(new("clear", url), key()).unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert_eq!(e.code(), ErrorCode::InvalidDestination);
        assert!(
            e.to_string().contains(url) && e.to_string().contains("://"),
            "{e}"
        );
    }
    let e = f
        .keys
        .add(
            NewDestination {
                token_url: Some("http://token.example.invalid/t".into()),
                ..new("fetch", "wss://lk.example")
            },
            key(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("use https://"), "{e}");
    assert!(f.keys.list().unwrap().is_empty(), "nothing was saved");
    // This computer, TLS, and plain RTMP (clear by the ingests' design) are fine.
    for (name, url) in [
        ("local-lk", "ws://127.0.0.1:7880"),
        ("local-whip", "http://localhost:7080/whip"),
        ("cloud", "wss://lk.example"),
        ("twitch", "rtmp://live.twitch.tv/app"),
    ] {
        f.keys.add(new(name, url), key()).unwrap();
    }
    // Editing cannot sneak it in either.
    let e = f
        .keys
        .edit(
            "cloud",
            DestinationEdit {
                url: "ws://lk.example".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("use wss://"), "{e}");
}

#[test]
fn options_are_checked_once_when_saved() {
    let f = fixture();
    let bad = NewDestination {
        name: "twitch".into(),
        url: "rtmp://live.twitch.tv/app".into(),
        options: DestinationOptions {
            livekit: LiveKitOptions {
                room: Some("show".into()),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let e = f.keys.add(bad, Some(Secret::new(KEY))).unwrap_err();
    assert!(e.is_usage());
    let e = OnairError::from(e);
    assert_eq!(e.code, ErrorCode::InvalidDestination);
    assert!(
        e.message.contains("only applies to LiveKit"),
        "{}",
        e.message
    );
    assert!(f.keys.list().unwrap().is_empty(), "nothing was saved");

    let mut good = NewDestination {
        name: "twitch".into(),
        url: "rtmp://live.twitch.tv/app".into(),
        status_url: Some("https://p.example/status".into()),
        ..Default::default()
    };
    good.options.status.viewers_pointer = Some("/n".into());
    f.keys.add(good, Some(Secret::new(KEY))).unwrap();
    let mut edit = DestinationEdit {
        url: "rtmp://live.twitch.tv/app".into(),
        status_url: Some("https://p.example/status".into()),
        ..Default::default()
    };
    edit.options.status.viewers_pointer = Some("viewers".into());
    let e = OnairError::from(f.keys.edit("twitch", edit).unwrap_err());
    assert_eq!(e.code, ErrorCode::InvalidDestination);
    assert!(e.message.contains("JSON pointer"), "{}", e.message);
    assert_eq!(
        f.keys
            .show("twitch")
            .unwrap()
            .options
            .status
            .viewers_pointer
            .as_deref(),
        Some("/n"),
        "a refused edit changes nothing"
    );
}
