//! JWT verification and stream permissions.
