//! mailsim's behaviour tests, as one integration binary.

mod api;
mod kb_matrix;
mod properties;
mod support;
