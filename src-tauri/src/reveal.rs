//! Revealing a key asks the creator first, in a dialog of the shell's own.
//!
//! The window cannot prove that a click was the creator's: a script in the
//! page can click buttons and call commands just as the UI does, so a token
//! or nonce handed to the page "for a user gesture" would be handed to that
//! script too. A native dialog is outside the page: no script can see,
//! answer or dismiss it, so a key only reaches the page after a person said
//! yes to that one key. One dialog at a time, so a script cannot pile them up.

use std::sync::atomic::{AtomicBool, Ordering};

use onair_engine::{ErrorCode, OnairError};
use tauri::AppHandle;

static ASKING: AtomicBool = AtomicBool::new(false);

/// The question the dialog puts; the name is the destination's, never the key.
pub fn question(name: &str) -> String {
    format!(
        "Show the stream key of \u{201c}{name}\u{201d} in the Onair window?\n\n\
         Anyone who can see your screen can read it for 5 seconds. \
         If you did not just press Reveal, choose Cancel."
    )
}

/// Asks and waits for the answer (blocks: call it off the main thread).
/// True only when the creator chose to show the key.
pub fn confirm(app: &AppHandle, name: &str) -> Result<bool, OnairError> {
    if ASKING.swap(true, Ordering::SeqCst) {
        return Err(OnairError::new(
            ErrorCode::Internal,
            "Onair is already asking about revealing a key: answer that question first.",
        ));
    }
    let answer = ask(app, question(name));
    ASKING.store(false, Ordering::SeqCst);
    answer
}

#[cfg(target_os = "linux")]
fn ask(app: &AppHandle, text: String) -> Result<bool, OnairError> {
    use gtk::prelude::*;
    use tauri::Manager;

    let (tx, rx) = std::sync::mpsc::channel();
    let window = app.get_webview_window(crate::window::MAIN);
    app.run_on_main_thread(move || {
        let parent = window.and_then(|w| w.gtk_window().ok());
        let dialog = gtk::MessageDialog::new(
            parent.as_ref(),
            gtk::DialogFlags::MODAL | gtk::DialogFlags::DESTROY_WITH_PARENT,
            gtk::MessageType::Question,
            gtk::ButtonsType::None,
            &text,
        );
        dialog.set_title("Onair: reveal a stream key");
        dialog.add_button("_Cancel", gtk::ResponseType::Cancel);
        dialog.add_button("_Show key", gtk::ResponseType::Accept);
        // Enter does not reveal: a dialog that popped up while typing stays shut.
        dialog.set_default_response(gtk::ResponseType::Cancel);
        // Closing emits one more response (delete-event): only the first counts.
        let tx = std::cell::Cell::new(Some(tx));
        dialog.connect_response(move |dialog, response| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(response == gtk::ResponseType::Accept);
                dialog.close();
            }
        });
        dialog.show_all();
        dialog.present();
    })
    .map_err(|e| OnairError::internal(format!("Could not ask before revealing the key ({e}).")))?;
    // A dialog destroyed without an answer (the app closing) is a no.
    Ok(rx.recv().unwrap_or(false))
}

#[cfg(not(target_os = "linux"))]
fn ask(_app: &AppHandle, _text: String) -> Result<bool, OnairError> {
    Err(OnairError::new(
        ErrorCode::Internal,
        "Revealing a key is only available on Linux in this version: use Copy, or `onair keys show NAME --reveal`.",
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_question_names_the_destination_and_says_when_to_refuse() {
        let q = super::question("studio");
        assert!(q.contains("\u{201c}studio\u{201d}"), "{q}");
        assert!(
            q.contains("If you did not just press Reveal, choose Cancel"),
            "{q}"
        );
    }
}
