//! One client connection: framing, pipelining, in-flight cap. (skeleton)
