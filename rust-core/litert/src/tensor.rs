#[cfg(feature = "native")]
use crate::error::Error;
#[cfg(feature = "native")]
use crate::ffi::check;
#[cfg(feature = "native")]
use litert_sys as sys;

/// Element types the engine can feed and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElementType {
    Float32,
    Int8,
    UInt8,
    Int32,
    /// Anything else, with LiteRT's type id.
    Other(u32),
}

impl ElementType {
    #[cfg(feature = "native")]
    fn from_raw(raw: sys::LiteRtElementType) -> Self {
        match raw {
            sys::kLiteRtElementTypeFloat32 => Self::Float32,
            sys::kLiteRtElementTypeInt8 => Self::Int8,
            sys::kLiteRtElementTypeUInt8 => Self::UInt8,
            sys::kLiteRtElementTypeInt32 => Self::Int32,
            other => Self::Other(other),
        }
    }

    /// Bytes per element; `None` for types the engine does not size.
    pub fn size(self) -> Option<usize> {
        match self {
            Self::Float32 | Self::Int32 => Some(4),
            Self::Int8 | Self::UInt8 => Some(1),
            Self::Other(_) => None,
        }
    }

    /// The name used in manifests (`float32`, `int8`, `uint8`, `int32`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Int8 => "int8",
            Self::UInt8 => "uint8",
            Self::Int32 => "int32",
            Self::Other(_) => "other",
        }
    }
}

/// Per-tensor affine quantisation: `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantization {
    pub scale: f32,
    pub zero_point: i64,
}

/// What a model says about one of its input or output tensors.
#[cfg(feature = "native")]
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub element_type: ElementType,
    /// `None` when the tensor is not per-tensor quantised.
    pub quantization: Option<Quantization>,
    pub(crate) raw_type: sys::LiteRtRankedTensorType,
}

#[cfg(feature = "native")]
impl TensorInfo {
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of the tensor in bytes.
    pub fn byte_len(&self) -> usize {
        self.element_count() * self.element_type.size().unwrap_or(0)
    }

    /// # Safety
    /// `tensor` must be a live tensor handle of a live model.
    pub(crate) unsafe fn read(tensor: sys::LiteRtTensor, name: String) -> Result<Self, Error> {
        let mut type_id: sys::LiteRtTensorTypeId = 0;
        // SAFETY: tensor is live (caller), out-pointer is valid.
        check("GetTensorTypeId", unsafe { sys::LiteRtGetTensorTypeId(tensor, &mut type_id) })?;
        if type_id != sys::kLiteRtRankedTensorType {
            return Err(Error::Unsupported(format!("tensor '{name}' has no fixed rank")));
        }
        let mut ranked = sys::LiteRtRankedTensorType::default();
        // SAFETY: as above.
        check("GetRankedTensorType", unsafe { sys::LiteRtGetRankedTensorType(tensor, &mut ranked) })?;
        let rank = ranked.layout.rank() as usize;
        let dims = &ranked.layout.dimensions[..rank.min(ranked.layout.dimensions.len())];
        if dims.iter().any(|&d| d <= 0) {
            return Err(Error::Unsupported(format!(
                "tensor '{name}' has a dynamic dimension {dims:?}; export the model with a fixed batch"
            )));
        }
        let shape = dims.iter().map(|&d| d as usize).collect();
        let element_type = ElementType::from_raw(ranked.element_type);
        if element_type.size().is_none() {
            return Err(Error::Unsupported(format!(
                "tensor '{name}' has element type {}",
                ranked.element_type
            )));
        }
        let mut q_type: sys::LiteRtQuantizationTypeId = 0;
        // SAFETY: as above.
        check("GetQuantizationTypeId", unsafe { sys::LiteRtGetQuantizationTypeId(tensor, &mut q_type) })?;
        let quantization = if q_type == sys::kLiteRtQuantizationPerTensor {
            let mut q = sys::LiteRtQuantizationPerTensor { scale: 0.0, zero_point: 0 };
            // SAFETY: as above.
            check("GetPerTensorQuantization", unsafe {
                sys::LiteRtGetPerTensorQuantization(tensor, &mut q)
            })?;
            Some(Quantization { scale: q.scale, zero_point: q.zero_point })
        } else {
            None
        };
        Ok(Self { name, shape, element_type, quantization, raw_type: ranked })
    }
}
