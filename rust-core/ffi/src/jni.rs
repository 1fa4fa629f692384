//! JNI entry points (camera preview): being written.
