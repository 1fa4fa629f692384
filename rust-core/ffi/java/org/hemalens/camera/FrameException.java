package org.hemalens.camera;

/**
 * A frame or call the preview guide could not judge: a bad frame (wrong
 * strides, short planes), a null or non-direct buffer, a closed guide, or an
 * internal error in the native code (which never takes the process down).
 * {@link #getCode()} is stable: {@code invalid_frame}, {@code null_buffer},
 * {@code not_direct}, {@code closed}, {@code invalid_argument}, {@code panic},
 * {@code jni}. The message names planes, sizes and strides, never pixels.
 */
public final class FrameException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String code;

    /** Made by the native code. */
    public FrameException(String code, String message) {
        super(code + ": " + message);
        this.code = code;
    }

    /** The stable code. */
    public String getCode() {
        return code;
    }
}
