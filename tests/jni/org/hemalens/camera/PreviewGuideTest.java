package org.hemalens.camera;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;

/**
 * Calls every native entry point of {@link PreviewGuide} on the desktop JVM:
 * good frames made from real photos (the repository's demo eyepiece photo and
 * a {@code bccd_fields} field from ../shared/data, or {@code HEMALENS_DATA}),
 * dark and blank frames, every error path (short planes, wrong strides, null
 * and non-direct buffers, a closed guide, bad options) and the panic path.
 * Ends with "N passed, M failed"; exits 1 on any failure.
 *
 * <p>Run by tests/jni/run.sh with {@code -Dhemalens.ffi.library=<.so>} and
 * {@code -Dhemalens.root=<repository root>}.
 */
public final class PreviewGuideTest {
    private static int passed;
    private static int failed;

    private static void check(String name, boolean ok, String detail) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.out.println("FAIL " + name + ": " + detail);
        }
    }

    private interface Call {
        void run() throws Exception;
    }

    /** The call must throw a FrameException with this code (and a short message). */
    private static void expectCode(String name, String code, Call call) {
        try {
            call.run();
            check(name, false, "no exception, " + code + " expected");
        } catch (FrameException e) {
            boolean ok = code.equals(e.getCode()) && e.getMessage().length() < 300;
            check(name, ok, "got " + e.getCode() + " (" + e.getMessage() + "), " + code + " expected");
        } catch (Throwable t) {
            check(name, false, "got " + t + ", FrameException " + code + " expected");
        }
    }

    /** A YUV_420_888 frame as the camera hands it over. */
    static final class Frame {
        final int width;
        final int height;
        final ByteBuffer y;
        final int yRowStride;
        final ByteBuffer u;
        final ByteBuffer v;
        final int uvRowStride;
        final int uvPixelStride;

        Frame(int width, int height, ByteBuffer y, int yRowStride, ByteBuffer u, ByteBuffer v,
                int uvRowStride, int uvPixelStride) {
            this.width = width;
            this.height = height;
            this.y = y;
            this.yRowStride = yRowStride;
            this.u = u;
            this.v = v;
            this.uvRowStride = uvRowStride;
            this.uvPixelStride = uvPixelStride;
        }

        String analyze() {
            return PreviewGuide.analyzeFrame(width, height, y, yRowStride, u, v, uvRowStride, uvPixelStride);
        }

        String analyze(PreviewGuide g) {
            return g.analyze(width, height, y, yRowStride, u, v, uvRowStride, uvPixelStride);
        }
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }

    /**
     * BT.601 full-range YUV 4:2:0 of {@code img}: chroma interleaved as
     * Android's NV21 (pixel stride 2, V first, each plane's buffer ending on
     * its last sample) or planar (pixel stride 1); rows padded by {@code pad}.
     */
    static Frame yuv(BufferedImage img, boolean interleaved, int pad) {
        int w = img.getWidth();
        int h = img.getHeight();
        int cw = (w + 1) / 2;
        int ch = (h + 1) / 2;
        int ps = interleaved ? 2 : 1;
        int yrs = w + pad;
        int crs = cw * ps + pad;
        ByteBuffer y = ByteBuffer.allocateDirect(yrs * (h - 1) + w);
        byte[] us = new byte[cw * ch];
        byte[] vs = new byte[cw * ch];
        int[] usum = new int[cw * ch];
        int[] vsum = new int[cw * ch];
        int[] n = new int[cw * ch];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                int p = img.getRGB(c, r);
                double red = (p >> 16) & 255;
                double green = (p >> 8) & 255;
                double blue = p & 255;
                y.put(r * yrs + c, (byte) clamp(0.299 * red + 0.587 * green + 0.114 * blue));
                int i = (r / 2) * cw + c / 2;
                usum[i] += clamp(128 - 0.168736 * red - 0.331264 * green + 0.5 * blue);
                vsum[i] += clamp(128 + 0.5 * red - 0.418688 * green - 0.081312 * blue);
                n[i]++;
            }
        }
        for (int i = 0; i < cw * ch; i++) {
            us[i] = (byte) ((usum[i] + n[i] / 2) / n[i]);
            vs[i] = (byte) ((vsum[i] + n[i] / 2) / n[i]);
        }
        int plane = crs * (ch - 1) + (cw - 1) * ps + 1;
        ByteBuffer u;
        ByteBuffer v;
        if (interleaved) {
            ByteBuffer vu = ByteBuffer.allocateDirect(plane + 1);
            for (int r = 0; r < ch; r++) {
                for (int c = 0; c < cw; c++) {
                    vu.put(r * crs + 2 * c, vs[r * cw + c]);
                    vu.put(r * crs + 2 * c + 1, us[r * cw + c]);
                }
            }
            v = vu.slice(0, plane);
            u = vu.slice(1, plane);
        } else {
            u = ByteBuffer.allocateDirect(plane);
            v = ByteBuffer.allocateDirect(plane);
            for (int r = 0; r < ch; r++) {
                for (int c = 0; c < cw; c++) {
                    u.put(r * crs + c, us[r * cw + c]);
                    v.put(r * crs + c, vs[r * cw + c]);
                }
            }
        }
        return new Frame(w, h, y, yrs, u, v, crs, ps);
    }

    private static Graphics2D smooth(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        return g;
    }

    /** A 4:3 photo as a 1920x1080 preview shows it: scaled to the height, the sides dark. */
    static BufferedImage preview(BufferedImage photo) {
        BufferedImage out = new BufferedImage(1920, 1080, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = smooth(out);
        g.setColor(new Color(5, 4, 4));
        g.fillRect(0, 0, 1920, 1080);
        int sw = (int) Math.round(photo.getWidth() * 1080.0 / photo.getHeight());
        g.drawImage(photo, (1920 - sw) / 2, 0, sw, 1080, null);
        g.dispose();
        return out;
    }

    /**
     * A 1920x1080 frame through the eyepiece: the field tiled at {@code scale}
     * (red cells of bccd_fields are about 105 px) inside a round aperture.
     */
    static BufferedImage eyepiece(BufferedImage field, double scale) {
        int tw = (int) Math.round(field.getWidth() * scale);
        int th = (int) Math.round(field.getHeight() * scale);
        BufferedImage out = new BufferedImage(1920, 1080, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = smooth(out);
        for (int ty = 0; ty < 1080; ty += th) {
            for (int tx = 0; tx < 1920; tx += tw) {
                g.drawImage(field, tx, ty, tw, th, null);
            }
        }
        g.dispose();
        double r = 0.47 * 1080;
        for (int py = 0; py < 1080; py++) {
            for (int px = 0; px < 1920; px++) {
                if (Math.hypot(px + 0.5 - 960, py + 0.5 - 540) > r) {
                    out.setRGB(px, py, 0x050404);
                }
            }
        }
        return out;
    }

    static BufferedImage scaled(BufferedImage img, double k, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int py = 0; py < h; py++) {
            for (int px = 0; px < w; px++) {
                int p = img.getRGB(px * img.getWidth() / w, py * img.getHeight() / h);
                int r = (int) (((p >> 16) & 255) * k);
                int gr = (int) (((p >> 8) & 255) * k);
                int b = (int) ((p & 255) * k);
                out.setRGB(px, py, (r << 16) | (gr << 8) | b);
            }
        }
        return out;
    }

    private static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":(\\{[^}]*\\}|[^,}\\]]+)").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    private static boolean isTrue(String json, String key) {
        return "true".equals(field(json, key));
    }

    private static double num(String json, String key) {
        String v = field(json, key);
        return v == null || v.equals("null") ? Double.NaN : Double.parseDouble(v);
    }

    private static boolean hasIssue(String json, String code) {
        return json.contains("\"code\":\"" + code + "\"");
    }

    private static double median(List<Double> v) {
        Double[] a = v.toArray(new Double[0]);
        Arrays.sort(a);
        return a[a.length / 2];
    }

    public static void main(String[] args) throws Exception {
        File root = new File(System.getProperty("hemalens.root", "."));
        String dataEnv = System.getenv("HEMALENS_DATA");
        File data = dataEnv != null ? new File(dataEnv) : new File(root, "../shared/data");

        // Good frames from the demo photo (a simulated eyepiece photo of one
        // real BCCD field): chroma interleaved (NV21) and planar, rows padded.
        BufferedImage demo = ImageIO.read(new File(root, "tests/fixtures/demo/eyepiece_bccd_00339.jpg"));
        String want = new String(Files.readAllBytes(new File(root, "tests/fixtures/demo/expected.json").toPath()),
                StandardCharsets.UTF_8).replaceAll("\\s+", "");
        BufferedImage demoPreview = preview(demo);
        Frame nv21 = yuv(demoPreview, true, 32);
        Frame planar = yuv(demoPreview, false, 0);
        String a = nv21.analyze();
        String b = planar.analyze();
        System.out.println("demo, NV21:   " + a);
        for (String[] c : new String[][] {{"nv21", a}, {"planar", b}}) {
            String j = c[1];
            String n = "demo " + c[0];
            check(n + " ready", isTrue(j, "ready"), j);
            check(n + " aperture", isTrue(j, "aperture_found") && isTrue(j, "aperture_centred")
                    && isTrue(j, "aperture_big_enough"), j);
            check(n + " no issues", j.contains("\"issues\":[]"), j);
            check(n + " focus", num(j, "focus") >= 0.58, j);
            check(n + " exposure", num(j, "exposure") > 0.3 && num(j, "exposure") < 0.9, j);
            // About 26 red cells across the aperture (32 px in this frame); the
            // field's one neutrophil mirrored 16 times (tests/fixtures/demo/expected.json).
            check(n + " red cells", num(j, "rbc_diameter_px") > 24 && num(j, "rbc_diameter_px") < 42, j);
            check(n + " white cells", num(j, "white_cells") >= num(want, "white_cells_min")
                    && num(j, "white_cells") <= num(want, "white_cells_max"), j);
            check(n + " fov centre", Math.abs(num(field(j, "fov"), "cx") - 960) < 60, j);
        }
        check("nv21 and planar agree", Math.abs(num(a, "focus") - num(b, "focus")) < 0.05, a + " vs " + b);

        // A real field from ../shared/data at phone-eyepiece scale (red cells ~50 px).
        File bccd = new File(data, "bccd_fields/images/BloodImage_00000.jpg");
        if (bccd.exists()) {
            Frame f = yuv(eyepiece(ImageIO.read(bccd), 0.5), true, 0);
            String j = f.analyze();
            System.out.println("bccd_fields BloodImage_00000, NV21: " + j);
            check("bccd aperture", isTrue(j, "aperture_found") && isTrue(j, "aperture_centred")
                    && isTrue(j, "aperture_big_enough"), j);
            check("bccd red cells", num(j, "rbc_diameter_px") > 35 && num(j, "rbc_diameter_px") < 65, j);
            check("bccd focus", num(j, "focus") >= 0.58, j);
            check("bccd white cells", num(j, "white_cells") >= 1, j);
        } else {
            System.out.println("SKIP bccd_fields frame: " + bccd + " missing (set HEMALENS_DATA to ../shared/data)");
        }

        // Dark and blank frames get the gate's codes.
        String dark = yuv(scaled(demoPreview, 0.1, 1280, 720), true, 0).analyze();
        check("dark frame too_dark", hasIssue(dark, "too_dark") && !isTrue(dark, "ready"), dark);
        ByteBuffer blankY = ByteBuffer.allocateDirect(640 * 480);
        ByteBuffer blankUv = ByteBuffer.allocateDirect(640 * 240);
        for (int i = 0; i < 640 * 240; i++) {
            blankUv.put(i, (byte) 128);
        }
        String blank = PreviewGuide.analyzeFrame(640, 480, blankY, 640, blankUv.slice(0, 640 * 240 - 1),
                blankUv.slice(1, 640 * 240 - 1), 640, 2);
        check("blank frame", !isTrue(blank, "ready") && !isTrue(blank, "aperture_found")
                && num(blank, "white_cells") == 0 && hasIssue(blank, "too_dark"), blank);
        // Odd sizes, read-only direct buffers.
        Frame odd = yuv(scaled(demoPreview, 1.0, 641, 359), false, 3);
        String oddJson = PreviewGuide.analyzeFrame(641, 359, odd.y.asReadOnlyBuffer(), odd.yRowStride,
                odd.u.asReadOnlyBuffer(), odd.v.asReadOnlyBuffer(), odd.uvRowStride, 1);
        check("odd size, read-only buffers", isTrue(oddJson, "aperture_found"), oddJson);

        // A session: the scale measured once and reused; the same answers.
        PreviewGuide g = new PreviewGuide();
        boolean same = true;
        for (int i = 0; i < 20; i++) {
            String j = nv21.analyze(g);
            same &= j.equals(a);
        }
        check("session answers as single frames", same, "differs from " + a);
        String small = yuv(scaled(demoPreview, 1.0, 1280, 720), true, 0).analyze(g);
        check("session, frame size changes", isTrue(small, "aperture_found"), small);
        g.close();
        expectCode("closed guide", "closed", () -> nv21.analyze(g));
        PreviewGuide twice = new PreviewGuide(320, 1);
        check("options", isTrue(nv21.analyze(twice), "aperture_found"), "longSide 320");
        twice.close();
        twice.close();
        check("close twice", true, "");
        expectCode("longSide too small", "invalid_argument", () -> new PreviewGuide(10, 15));
        expectCode("rescaleEvery 0", "invalid_argument", () -> new PreviewGuide(480, 0));

        // Bad frames, through both entry points.
        Frame f = nv21;
        ByteBuffer shortY = f.y.slice(0, f.y.capacity() - 1);
        ByteBuffer shortU = f.u.slice(0, f.u.capacity() - 2);
        ByteBuffer heap = ByteBuffer.allocate(f.y.capacity());
        try (PreviewGuide guide = new PreviewGuide()) {
            List<Object[]> cases = new ArrayList<>();
            cases.add(new Object[] {"short y plane", "invalid_frame", new Frame(f.width, f.height, shortY,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"short u plane", "invalid_frame", new Frame(f.width, f.height, f.y,
                    f.yRowStride, shortU, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"y row stride below width", "invalid_frame", new Frame(f.width, f.height,
                    f.y, f.width - 1, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"y row stride past the plane", "invalid_frame", new Frame(f.width,
                    f.height, f.y, f.yRowStride + 1, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"uv row stride too short for pixel stride 2", "invalid_frame",
                    new Frame(f.width, f.height, f.y, f.yRowStride, f.u, f.v, f.width / 2, 2)});
            cases.add(new Object[] {"uv pixel stride 0", "invalid_frame", new Frame(f.width, f.height, f.y,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 0)});
            cases.add(new Object[] {"negative stride", "invalid_frame", new Frame(f.width, f.height, f.y,
                    -f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"negative width", "invalid_frame", new Frame(-f.width, f.height, f.y,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"zero height", "invalid_frame", new Frame(f.width, 0, f.y,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"huge frame", "invalid_frame", new Frame(100000, 100000, f.y,
                    100000, f.u, f.v, 100000, 2)});
            cases.add(new Object[] {"null y", "null_buffer", new Frame(f.width, f.height, null,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"null u", "null_buffer", new Frame(f.width, f.height, f.y,
                    f.yRowStride, null, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"null v", "null_buffer", new Frame(f.width, f.height, f.y,
                    f.yRowStride, f.u, null, f.uvRowStride, 2)});
            cases.add(new Object[] {"non-direct y", "not_direct", new Frame(f.width, f.height, heap,
                    f.yRowStride, f.u, f.v, f.uvRowStride, 2)});
            cases.add(new Object[] {"non-direct v", "not_direct", new Frame(f.width, f.height, f.y,
                    f.yRowStride, f.u, ByteBuffer.allocate(16), f.uvRowStride, 2)});
            for (Object[] c : cases) {
                Frame bad = (Frame) c[2];
                expectCode("analyzeFrame, " + c[0], (String) c[1], bad::analyze);
                expectCode("guide.analyze, " + c[0], (String) c[1], () -> bad.analyze(guide));
            }
            // The guide still works after all that.
            check("guide after errors", isTrue(f.analyze(guide), "ready"), "");
        }

        // A panic in Rust is a FrameException, and the JVM goes on.
        expectCode("panic", "panic", PreviewGuide::nativeDebugPanic);
        expectCode("panic again", "panic", PreviewGuide::nativeDebugPanic);
        check("after the panic", f.analyze().equals(a), "a frame after the panic differs");

        // Time per 1080p frame through JNI (information, not a test).
        try (PreviewGuide timed = new PreviewGuide()) {
            List<Double> single = new ArrayList<>();
            List<Double> session = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                long t = System.nanoTime();
                nv21.analyze();
                single.add((System.nanoTime() - t) / 1e6);
                t = System.nanoTime();
                nv21.analyze(timed);
                session.add((System.nanoTime() - t) / 1e6);
            }
            System.out.printf("per 1920x1080 frame through JNI (median): analyzeFrame %.2f ms, session %.2f ms%n",
                    median(single), median(session));
        }

        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
