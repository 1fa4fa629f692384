use crate::error::{Error, Status};
use crate::ffi::check;
use crate::tensor::TensorInfo;
use litert_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::path::Path;
use std::ptr;

/// How to compile a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// CPU threads XNNPACK may use (1 or more).
    pub num_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { num_threads: 1 }
    }
}

/// A loaded (not yet compiled) model. Owns the bytes LiteRT reads from.
#[derive(Debug)]
pub struct Model {
    raw: sys::LiteRtModel,
    // LiteRT keeps pointers into the buffer for the model's lifetime.
    _bytes: Option<Vec<u64>>,
}

// SAFETY: the model handle is only read after creation and LiteRT models are
// immutable once built; the bytes it points into are owned by this value.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Model {
    /// Loads a model from `.tflite` bytes (copied into an aligned buffer).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        // Reject what is plainly not a TFLite flatbuffer before LiteRT parses it.
        if bytes.len() < 8 || &bytes[4..8] != b"TFL3" {
            return Err(Error::InvalidModel(Status(sys::kLiteRtStatusErrorInvalidFlatbuffer)));
        }
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `words` has at least `bytes.len()` bytes; the regions do not overlap.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), words.as_mut_ptr().cast::<u8>(), bytes.len());
        }
        let mut raw: sys::LiteRtModel = ptr::null_mut();
        // SAFETY: buffer pointer and length describe `words`, which the Model keeps alive.
        let status = unsafe {
            sys::LiteRtCreateModelFromBuffer(words.as_ptr().cast::<c_void>(), bytes.len(), &mut raw)
        };
        if status != sys::kLiteRtStatusOk || raw.is_null() {
            return Err(Error::InvalidModel(Status(status)));
        }
        Ok(Self { raw, _bytes: Some(words) })
    }

    /// Loads a model from a `.tflite` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        // Reading ourselves gives a proper io::Error and the same validation as bytes.
        let bytes = std::fs::read(path)?;
        Self::from_bytes(&bytes)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: raw was created by LiteRtCreateModelFromBuffer and is dropped once.
        unsafe { sys::LiteRtDestroyModel(self.raw) }
    }
}

/// A compiled model with its input and output buffers allocated once.
///
/// `run` takes `&mut self`: one inference at a time per engine. Share an engine
/// between threads behind a `Mutex`, or make one engine per thread.
#[derive(Debug)]
pub struct Engine {
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    input_buffers: Vec<sys::LiteRtTensorBuffer>,
    output_buffers: Vec<sys::LiteRtTensorBuffer>,
    compiled: sys::LiteRtCompiledModel,
    options: sys::LiteRtOptions,
    env: sys::LiteRtEnvironment,
    model: Model,
    num_threads: usize,
}

// SAFETY: all handles are owned by the engine and used only through `&mut self`
// (run) or not at all (`&self` methods read Rust-side copies of tensor facts).
unsafe impl Send for Engine {}
unsafe impl Sync for Engine {}

impl Engine {
    pub fn from_file(path: impl AsRef<Path>, options: &Options) -> Result<Self, Error> {
        Self::new(Model::from_file(path)?, options)
    }

    pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Self, Error> {
        Self::new(Model::from_bytes(bytes)?, options)
    }

    /// Compiles `model` for the CPU with XNNPACK and `options.num_threads` threads.
    pub fn new(model: Model, options: &Options) -> Result<Self, Error> {
        if options.num_threads == 0 || options.num_threads > 64 {
            return Err(Error::Option(format!("num_threads must be 1..=64, got {}", options.num_threads)));
        }
        let mut engine = Self {
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_buffers: Vec::new(),
            output_buffers: Vec::new(),
            compiled: ptr::null_mut(),
            options: ptr::null_mut(),
            env: ptr::null_mut(),
            model,
            num_threads: options.num_threads,
        };
        // From here on, Drop releases whatever was created if a step fails.
        // SAFETY: out-pointers are valid; handles are stored in `engine` as soon as created.
        unsafe {
            check("CreateEnvironment", sys::LiteRtCreateEnvironment(0, ptr::null(), &mut engine.env))?;
            check("CreateOptions", sys::LiteRtCreateOptions(&mut engine.options))?;
            check(
                "SetOptionsHardwareAccelerators",
                sys::LiteRtSetOptionsHardwareAccelerators(
                    engine.options,
                    sys::kLiteRtHwAcceleratorCpu as sys::LiteRtHwAcceleratorSet,
                ),
            )?;
            add_xnnpack_threads(engine.options, options.num_threads)?;
            let status = sys::LiteRtCreateCompiledModel(
                engine.env,
                engine.model.raw,
                engine.options,
                &mut engine.compiled,
            );
            if status != sys::kLiteRtStatusOk || engine.compiled.is_null() {
                return Err(Error::Compile(Status(status)));
            }
            engine.read_signature()?;
            engine.allocate_buffers()?;
        }
        Ok(engine)
    }

    /// # Safety
    /// The model must be live (it is owned by self).
    unsafe fn read_signature(&mut self) -> Result<(), Error> {
        let model = self.model.raw;
        let mut n_sig: sys::LiteRtParamIndex = 0;
        // SAFETY: model is live; out-pointers valid.
        unsafe {
            check("GetNumModelSignatures", sys::LiteRtGetNumModelSignatures(model, &mut n_sig))?;
            if n_sig == 0 {
                return Err(Error::Unsupported("the model has no signature".into()));
            }
            let mut sig: sys::LiteRtSignature = ptr::null_mut();
            check("GetModelSignature", sys::LiteRtGetModelSignature(model, 0, &mut sig))?;
            let mut n_in: sys::LiteRtParamIndex = 0;
            let mut n_out: sys::LiteRtParamIndex = 0;
            check("GetNumSignatureInputs", sys::LiteRtGetNumSignatureInputs(sig, &mut n_in))?;
            check("GetNumSignatureOutputs", sys::LiteRtGetNumSignatureOutputs(sig, &mut n_out))?;
            for i in 0..n_in {
                let mut t: sys::LiteRtTensor = ptr::null_mut();
                check(
                    "GetSignatureInputTensorByIndex",
                    sys::LiteRtGetSignatureInputTensorByIndex(sig, i, &mut t),
                )?;
                let mut name: *const std::os::raw::c_char = ptr::null();
                check("GetSignatureInputName", sys::LiteRtGetSignatureInputName(sig, i, &mut name))?;
                self.inputs.push(TensorInfo::read(t, c_name(name))?);
            }
            for i in 0..n_out {
                let mut t: sys::LiteRtTensor = ptr::null_mut();
                check(
                    "GetSignatureOutputTensorByIndex",
                    sys::LiteRtGetSignatureOutputTensorByIndex(sig, i, &mut t),
                )?;
                let mut name: *const std::os::raw::c_char = ptr::null();
                check("GetSignatureOutputName", sys::LiteRtGetSignatureOutputName(sig, i, &mut name))?;
                self.outputs.push(TensorInfo::read(t, c_name(name))?);
            }
        }
        Ok(())
    }

    /// # Safety
    /// env and compiled must be live.
    unsafe fn allocate_buffers(&mut self) -> Result<(), Error> {
        for (i, info) in self.inputs.iter().enumerate() {
            let mut req: sys::LiteRtTensorBufferRequirements = ptr::null_mut();
            // SAFETY: compiled is live; requirements stay owned by the compiled model.
            let buf = unsafe {
                check(
                    "GetCompiledModelInputBufferRequirements",
                    sys::LiteRtGetCompiledModelInputBufferRequirements(self.compiled, 0, i, &mut req),
                )?;
                create_buffer(self.env, info, req)?
            };
            self.input_buffers.push(buf);
        }
        for (i, info) in self.outputs.iter().enumerate() {
            let mut req: sys::LiteRtTensorBufferRequirements = ptr::null_mut();
            // SAFETY: as above.
            let buf = unsafe {
                check(
                    "GetCompiledModelOutputBufferRequirements",
                    sys::LiteRtGetCompiledModelOutputBufferRequirements(self.compiled, 0, i, &mut req),
                )?;
                create_buffer(self.env, info, req)?
            };
            self.output_buffers.push(buf);
        }
        Ok(())
    }

    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Input tensor `i`. Panics if out of range, like slice indexing.
    pub fn input(&self, i: usize) -> &TensorInfo {
        &self.inputs[i]
    }

    /// Output tensor `i`. Panics if out of range, like slice indexing.
    pub fn output(&self, i: usize) -> &TensorInfo {
        &self.outputs[i]
    }

    pub fn num_threads(&self) -> usize {
        self.num_threads
    }

    /// Runs once: copies each input's bytes in, runs, copies each output out.
    /// Sizes must equal the tensors' byte lengths. Nothing is allocated.
    pub fn run(&mut self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> Result<(), Error> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Shape { what: "input count", expected: self.inputs.len(), got: inputs.len() });
        }
        if outputs.len() != self.outputs.len() {
            return Err(Error::Shape {
                what: "output count",
                expected: self.outputs.len(),
                got: outputs.len(),
            });
        }
        for (data, info) in inputs.iter().zip(&self.inputs) {
            if data.len() != info.byte_len() {
                return Err(Error::Shape { what: "input bytes", expected: info.byte_len(), got: data.len() });
            }
        }
        for (data, info) in outputs.iter().zip(&self.outputs) {
            if data.len() != info.byte_len() {
                return Err(Error::Shape {
                    what: "output bytes",
                    expected: info.byte_len(),
                    got: data.len(),
                });
            }
        }
        for (data, &buf) in inputs.iter().zip(&self.input_buffers) {
            // SAFETY: buf is a live host buffer of at least data.len() bytes (checked above
            // against the tensor size it was created for).
            unsafe {
                with_locked(buf, sys::kLiteRtTensorBufferLockModeWrite, |p| {
                    ptr::copy_nonoverlapping(data.as_ptr(), p, data.len())
                })?
            };
        }
        // SAFETY: compiled and the buffers are live; arrays are valid for their lengths.
        check("RunCompiledModel", unsafe {
            sys::LiteRtRunCompiledModel(
                self.compiled,
                0,
                self.input_buffers.len(),
                self.input_buffers.as_mut_ptr(),
                self.output_buffers.len(),
                self.output_buffers.as_mut_ptr(),
            )
        })?;
        for (data, &buf) in outputs.iter_mut().zip(&self.output_buffers) {
            // SAFETY: as for the inputs.
            unsafe {
                with_locked(buf, sys::kLiteRtTensorBufferLockModeRead, |p| {
                    ptr::copy_nonoverlapping(p.cast_const(), data.as_mut_ptr(), data.len())
                })?
            };
        }
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: each handle is either null or owned by us, and destroyed once, in
        // reverse order of creation.
        unsafe {
            for &b in self.input_buffers.iter().chain(&self.output_buffers) {
                sys::LiteRtDestroyTensorBuffer(b);
            }
            if !self.compiled.is_null() {
                sys::LiteRtDestroyCompiledModel(self.compiled);
            }
            if !self.options.is_null() {
                sys::LiteRtDestroyOptions(self.options);
            }
            if !self.env.is_null() {
                sys::LiteRtDestroyEnvironment(self.env);
            }
        }
    }
}

fn c_name(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: LiteRT returns NUL-terminated names that live as long as the model.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

unsafe extern "C" fn drop_cstring(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: p came from CString::into_raw in add_xnnpack_threads.
        drop(unsafe { CString::from_raw(p.cast()) });
    }
}

/// The thread count is not part of the safe surface of LiteRT; it is an opaque
/// option named "xnnpack" whose payload is TOML. LiteRT ignores malformed lines
/// silently, so tests check the effect (thread count, speed).
unsafe fn add_xnnpack_threads(options: sys::LiteRtOptions, n: usize) -> Result<(), Error> {
    let payload = CString::new(format!("num_threads = {n}\n"))
        .map_err(|_| Error::Option("thread payload".into()))?
        .into_raw();
    let mut opaque: sys::LiteRtOpaqueOptions = ptr::null_mut();
    // SAFETY: identifier and payload are valid C strings; the destructor frees the payload.
    let status = unsafe {
        sys::LiteRtCreateOpaqueOptions(c"xnnpack".as_ptr(), payload.cast(), Some(drop_cstring), &mut opaque)
    };
    if status != sys::kLiteRtStatusOk {
        // SAFETY: creation failed, so the payload is still ours.
        unsafe { drop_cstring(payload.cast()) };
        return check("CreateOpaqueOptions", status);
    }
    // SAFETY: options and opaque are live; ownership of opaque moves to options on success.
    let status = unsafe { sys::LiteRtAddOpaqueOptions(options, opaque) };
    if status != sys::kLiteRtStatusOk {
        // SAFETY: not transferred; destroy it (which runs the payload destructor).
        unsafe { sys::LiteRtDestroyOpaqueOptions(opaque) };
    }
    check("AddOpaqueOptions", status)
}

unsafe fn create_buffer(
    env: sys::LiteRtEnvironment,
    info: &TensorInfo,
    req: sys::LiteRtTensorBufferRequirements,
) -> Result<sys::LiteRtTensorBuffer, Error> {
    let mut size: usize = 0;
    // SAFETY: req is live (owned by the compiled model).
    check("GetTensorBufferRequirementsBufferSize", unsafe {
        sys::LiteRtGetTensorBufferRequirementsBufferSize(req, &mut size)
    })?;
    let size = size.max(info.byte_len());
    let mut buf: sys::LiteRtTensorBuffer = ptr::null_mut();
    // SAFETY: env is live; tensor type is a valid struct read from the model.
    check("CreateManagedTensorBuffer", unsafe {
        sys::LiteRtCreateManagedTensorBuffer(
            env,
            sys::kLiteRtTensorBufferTypeHostMemory,
            &info.raw_type,
            size,
            &mut buf,
        )
    })?;
    Ok(buf)
}

/// # Safety
/// `buf` must be a live host-memory tensor buffer large enough for what `f` touches.
unsafe fn with_locked(
    buf: sys::LiteRtTensorBuffer,
    mode: sys::LiteRtTensorBufferLockMode,
    f: impl FnOnce(*mut u8),
) -> Result<(), Error> {
    let mut addr: *mut c_void = ptr::null_mut();
    // SAFETY: buf is live (caller).
    check("LockTensorBuffer", unsafe { sys::LiteRtLockTensorBuffer(buf, &mut addr, mode) })?;
    if !addr.is_null() {
        f(addr.cast());
    }
    // SAFETY: locked just above.
    check("UnlockTensorBuffer", unsafe { sys::LiteRtUnlockTensorBuffer(buf) })
}
