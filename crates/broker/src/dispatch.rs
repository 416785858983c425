//! Request header decoding and routing to handlers. (skeleton)
