//! JNI entry points of `org.hemalens.camera.PreviewGuide`: capture guidance
//! for live camera preview frames (Android), computed by
//! `hemalens_core::field::preview` (the quality gate's own stages on a
//! reduced frame).
//!
//! A `YUV_420_888` frame comes as CameraX/Camera2 deliver it: three planes as
//! direct `ByteBuffer`s (read in place, no copy; each plane's memory is its
//! buffer's address up to its capacity, as `Image.Plane.getBuffer()` gives
//! it), the luma row stride, and the chroma row and pixel strides. The
//! guidance goes back as JSON (`Guidance`: `aperture_found`, `aperture_centred`,
//! `aperture_big_enough`, `fov`, `exposure`, `focus`, `rbc_diameter_px`,
//! `white_cells`, `issues` [{`code`, `message`}], `ready`).
//!
//! Every error, and any panic, reaches Java as an
//! `org.hemalens.camera.FrameException` whose `getCode()` is one of
//! [`Fail::code`]'s stable strings; nothing here can take the host process
//! down. Messages name planes, sizes and strides, never pixel values.
//!
//! The buffers must stay readable and unchanged for the length of the call
//! (CameraX: analyse before `ImageProxy.close()`).
use ::jni::errors::ErrorPolicy;
use ::jni::objects::{JByteBuffer, JClass, JString, JThrowable, JValue};
use ::jni::refs::Reference;
use ::jni::sys::{jint, jlong};
use ::jni::{jni_sig, jni_str, Env, EnvUnowned};
use hemalens_core::field::preview::{self, Plane, Preview, PreviewOptions, YuvFrame};
use std::sync::Mutex;

/// Why a call failed, as the app sees it.
#[derive(Debug)]
enum Fail {
    /// The frame's size, strides or planes do not fit together.
    InvalidFrame(String),
    /// A plane's buffer is null.
    NullBuffer(&'static str),
    /// A plane's buffer is not a direct `ByteBuffer`.
    NotDirect(&'static str),
    /// The guide was closed.
    Closed,
    /// Options out of range.
    InvalidArgument(String),
    /// The JVM refused a call (out of memory and the like).
    Jni,
}

impl Fail {
    /// Stable codes, `FrameException.getCode()`.
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidFrame(_) => "invalid_frame",
            Self::NullBuffer(_) => "null_buffer",
            Self::NotDirect(_) => "not_direct",
            Self::Closed => "closed",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::Jni => "jni",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidFrame(m) | Self::InvalidArgument(m) => m.clone(),
            Self::NullBuffer(p) => format!("the {p} plane's buffer is null"),
            Self::NotDirect(p) => format!("the {p} plane's buffer is not a direct ByteBuffer"),
            Self::Closed => "the PreviewGuide was closed".into(),
            Self::Jni => "the JVM refused a call".into(),
        }
    }
}

impl From<::jni::errors::Error> for Fail {
    fn from(_: ::jni::errors::Error) -> Self {
        Self::Jni
    }
}

/// Throws a `FrameException` for every error and panic (unless a Java
/// exception is already pending, which then goes on to Java as it is).
#[derive(Debug)]
struct ThrowFrameException;

impl<T: Default> ErrorPolicy<T, Fail> for ThrowFrameException {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: Fail,
    ) -> ::jni::errors::Result<T> {
        if !env.exception_check() {
            throw(env, err.code(), &err.message());
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> ::jni::errors::Result<T> {
        // Our own panic messages name code paths and sizes, never pixels or
        // patients; capped all the same.
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let text: String = text.chars().take(200).collect();
        // A payload whose drop panics must not unwind into the JVM.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))).is_err() {
            log::error!("a panic payload panicked on drop");
        }
        if env.exception_check() {
            env.exception_clear();
        }
        throw(env, "panic", &format!("internal error in the preview code: {text}"));
        Ok(T::default())
    }
}

/// Leaves a `FrameException(code, message)` pending; if that class cannot be
/// made, whatever Java exception that raised stays pending (a
/// `NoClassDefFoundError`, say), or a `RuntimeException` when none did.
fn throw(env: &mut Env, code: &str, message: &str) {
    let made = (|| -> ::jni::errors::Result<()> {
        let (c, m) = (JString::from_str(env, code)?, JString::from_str(env, message)?);
        let obj = env.new_object(
            jni_str!("org/hemalens/camera/FrameException"),
            jni_sig!("(Ljava/lang/String;Ljava/lang/String;)V"),
            &[JValue::from(&c), JValue::from(&m)],
        )?;
        let t = env.cast_local::<JThrowable>(obj)?;
        env.throw(t)
    })();
    if !env.exception_check() {
        log::error!("cannot throw FrameException: {made:?}");
        let _ = env.throw(format!("{code}: {message}"));
    }
}

/// A plane's bytes: a direct buffer's memory from its address to its capacity.
fn bytes<'a>(env: &Env, buf: &'a JByteBuffer, plane: &'static str) -> Result<&'a [u8], Fail> {
    if buf.is_null() {
        return Err(Fail::NullBuffer(plane));
    }
    let ptr = env.get_direct_buffer_address(buf).map_err(|_| Fail::NotDirect(plane))?;
    let len = env.get_direct_buffer_capacity(buf).map_err(|_| Fail::NotDirect(plane))?;
    if ptr.is_null() {
        return Err(Fail::NotDirect(plane));
    }
    // SAFETY: a direct buffer's memory lies at its address for its capacity
    // and lives while the buffer is reachable, which `buf` (a local reference
    // held for this call, which the slice's lifetime is tied to) ensures.
    // PreviewGuide's contract is that nobody writes to it meanwhile.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

fn size(v: jint, what: &str) -> Result<usize, Fail> {
    usize::try_from(v).map_err(|_| Fail::InvalidFrame(format!("{what} is negative ({v})")))
}

/// The frame's arguments as Java passes them.
#[derive(Debug)]
struct FrameArgs<'a, 'local> {
    width: jint,
    height: jint,
    y: &'a JByteBuffer<'local>,
    y_row_stride: jint,
    u: &'a JByteBuffer<'local>,
    v: &'a JByteBuffer<'local>,
    uv_row_stride: jint,
    uv_pixel_stride: jint,
}

impl<'a> FrameArgs<'a, '_> {
    /// Checks everything and reads the planes in place.
    fn frame(&self, env: &Env) -> Result<YuvFrame<'a>, Fail> {
        let (w, h) = (size(self.width, "width")?, size(self.height, "height")?);
        let (ys, cs, cp) = (
            size(self.y_row_stride, "y row stride")?,
            size(self.uv_row_stride, "uv row stride")?,
            size(self.uv_pixel_stride, "uv pixel stride")?,
        );
        let (y, u, v) = (bytes(env, self.y, "y")?, bytes(env, self.u, "u")?, bytes(env, self.v, "v")?);
        YuvFrame::new(w as u32, h as u32, Plane::new(y, ys, 1), Plane::new(u, cs, cp), Plane::new(v, cs, cp))
            .map_err(|e| Fail::InvalidFrame(e.to_string()))
    }
}

fn json<'local>(env: &mut Env<'local>, g: &preview::Guidance) -> Result<JString<'local>, Fail> {
    let text = serde_json::to_string(g).map_err(|_| Fail::Jni)?;
    Ok(JString::from_str(env, text)?)
}

/// `static String analyzeFrame(int width, int height, ByteBuffer y, int yRowStride,
/// ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride)`: one frame
/// on its own (the red-cell scale measured on it).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_hemalens_camera_PreviewGuide_analyzeFrame<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    width: jint,
    height: jint,
    y: JByteBuffer<'local>,
    y_row_stride: jint,
    u: JByteBuffer<'local>,
    v: JByteBuffer<'local>,
    uv_row_stride: jint,
    uv_pixel_stride: jint,
) -> JString<'local> {
    env.with_env(|env| -> Result<_, Fail> {
        let args =
            FrameArgs { width, height, y: &y, y_row_stride, u: &u, v: &v, uv_row_stride, uv_pixel_stride };
        let g = preview::guide(&args.frame(env)?, &PreviewOptions::default());
        json(env, &g)
    })
    .resolve::<ThrowFrameException>()
}

/// One camera session's guide ([`Preview`]: it remembers the red-cell scale
/// between frames). Behind a mutex so that even unsynchronised callers
/// cannot race on it.
#[derive(Debug)]
struct Session(Mutex<Preview>);

/// `private static long nativeCreate(int longSide, int rescaleEvery)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_hemalens_camera_PreviewGuide_nativeCreate<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    long_side: jint,
    rescale_every: jint,
) -> jlong {
    env.with_env(|_env| -> Result<_, Fail> {
        if !(64..=4096).contains(&long_side) || rescale_every < 1 {
            return Err(Fail::InvalidArgument(format!(
                "longSide must be 64 to 4096 and rescaleEvery at least 1 (got {long_side} and {rescale_every})"
            )));
        }
        let opts = PreviewOptions {
            long_side: long_side as u32,
            rescale_every: rescale_every as u32,
            ..PreviewOptions::default()
        };
        Ok(Box::into_raw(Box::new(Session(Mutex::new(Preview::new(opts))))) as jlong)
    })
    .resolve::<ThrowFrameException>()
}

/// `private static String nativeAnalyze(long handle, int width, int height, ByteBuffer y,
/// int yRowStride, ByteBuffer u, ByteBuffer v, int uvRowStride, int uvPixelStride)`;
/// handle 0 (a closed guide) throws `closed`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_hemalens_camera_PreviewGuide_nativeAnalyze<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
    width: jint,
    height: jint,
    y: JByteBuffer<'local>,
    y_row_stride: jint,
    u: JByteBuffer<'local>,
    v: JByteBuffer<'local>,
    uv_row_stride: jint,
    uv_pixel_stride: jint,
) -> JString<'local> {
    env.with_env(|env| -> Result<_, Fail> {
        if handle == 0 {
            return Err(Fail::Closed);
        }
        // SAFETY: a non-zero handle is one nativeCreate made and nativeDestroy
        // has not freed: PreviewGuide keeps it in a private field, passes 0
        // once closed, and its analyze and close are synchronized, so no
        // call runs while it is freed.
        let session = unsafe { &*(handle as *const Session) };
        let args =
            FrameArgs { width, height, y: &y, y_row_stride, u: &u, v: &v, uv_row_stride, uv_pixel_stride };
        let frame = args.frame(env)?;
        // A panic mid-frame leaves only a cached scale behind: go on with it.
        let g = session.0.lock().unwrap_or_else(|e| e.into_inner()).guide(&frame);
        json(env, &g)
    })
    .resolve::<ThrowFrameException>()
}

/// `private static void nativeDestroy(long handle)`; 0 is a no-op.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_hemalens_camera_PreviewGuide_nativeDestroy<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    env.with_env(|_env| -> Result<_, Fail> {
        if handle != 0 {
            // SAFETY: as in nativeAnalyze; PreviewGuide.close passes each
            // handle here once, then 0 ever after.
            drop(unsafe { Box::from_raw(handle as *mut Session) });
        }
        Ok(())
    })
    .resolve::<ThrowFrameException>()
}

/// `static void nativeDebugPanic()`: a test hook that panics in Rust, to show
/// the panic arrives as `FrameException("panic")` and the JVM lives on.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_hemalens_camera_PreviewGuide_nativeDebugPanic<'local>(
    mut env: EnvUnowned<'local>,
    _class: JClass<'local>,
) {
    env.with_env(|_env| -> Result<(), Fail> {
        panic!("nativeDebugPanic: a deliberate panic for the JNI tests")
    })
    .resolve::<ThrowFrameException>()
}
