package org.hemalens.camera;

import java.nio.ByteBuffer;

/**
 * Capture guidance for live camera preview frames, from the Rust core's
 * quality gate run on a reduced frame ({@code hemalens_core::field::preview}).
 *
 * <p>A frame is a {@code YUV_420_888} image as CameraX ({@code ImageProxy})
 * and Camera2 ({@code Image}) deliver it: the three planes' direct
 * {@code ByteBuffer}s (each plane's memory from the buffer's address to its
 * capacity), the luma row stride, and the chroma row and pixel strides (the
 * U and V planes share them). The buffers are read in place: call before the
 * image is closed, and do not write to them meanwhile.
 *
 * <p>The answer is JSON: {@code aperture_found}, {@code aperture_centred},
 * {@code aperture_big_enough}, {@code fov} ({@code cx}, {@code cy}, {@code r}
 * in frame pixels, or null), {@code exposure}, {@code focus},
 * {@code rbc_diameter_px}, {@code white_cells}, {@code issues}
 * ([{@code code}, {@code message}]: the gate's codes and sentences) and
 * {@code ready}. Anything wrong is a {@link FrameException}.
 *
 * <p>One guide per camera session: it measures the red-cell scale on the
 * first frame and then on every {@code rescaleEvery}th, and reuses it in
 * between (about half the time per frame). Close it when the session ends.
 */
public final class PreviewGuide implements AutoCloseable {
    static {
        // Tests and desktop tools name the library file; apps load it by name.
        String path = System.getProperty("hemalens.ffi.library");
        if (path != null) {
            System.load(path);
        } else {
            System.loadLibrary("hemalens_ffi");
        }
    }

    private long handle;

    /** A guide with the defaults: frames reduced to a long side of at most 480, scale every 15th frame. */
    public PreviewGuide() {
        this(480, 15);
    }

    /**
     * @param longSide frames are reduced by a whole factor to at most this long side (64 to 4096)
     * @param rescaleEvery the red-cell scale is measured on every this many frames (at least 1)
     * @throws FrameException {@code invalid_argument} when out of range
     */
    public PreviewGuide(int longSide, int rescaleEvery) {
        handle = nativeCreate(longSide, rescaleEvery);
    }

    /**
     * Guidance for the next frame of this session.
     *
     * @throws FrameException for a bad frame, or {@code closed} once closed
     */
    public synchronized String analyze(int width, int height, ByteBuffer y, int yRowStride,
            ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride) {
        return nativeAnalyze(handle, width, height, y, yRowStride, u, v, uvRowStride, uvPixelStride);
    }

    /** Frees the native guide; later calls to {@link #analyze} throw {@code closed}. Idempotent. */
    @Override
    public synchronized void close() {
        long h = handle;
        handle = 0;
        nativeDestroy(h);
    }

    /**
     * Guidance for one frame on its own (the red-cell scale measured on it).
     *
     * @throws FrameException for a bad frame
     */
    public static native String analyzeFrame(int width, int height, ByteBuffer y, int yRowStride,
            ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride);

    private static native long nativeCreate(int longSide, int rescaleEvery);

    private static native String nativeAnalyze(long handle, int width, int height, ByteBuffer y,
            int yRowStride, ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride);

    private static native void nativeDestroy(long handle);

    /** Test hook: panics in the native code; always throws {@link FrameException} {@code panic}. */
    static native void nativeDebugPanic();
}
