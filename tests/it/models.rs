//! `mmm models` against the fake API.
