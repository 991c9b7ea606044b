//! Integration tests: one binary, one module per area (ripgrep's layout). Every test uses real
//! files, the real archive format and, where it says so, the real CLI binary and system tools.

mod it;
