//! SecLang parser (pest grammar) and configuration loader (`Include`).
