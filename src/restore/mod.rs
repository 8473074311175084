//! Restore: preflight → verify → repos → packages → files → db → regenerate →
//! services, as a journaled list of steps that can resume or roll back.
