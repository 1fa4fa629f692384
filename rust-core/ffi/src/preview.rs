//! Capture guidance for live camera frames through UniFFI: the same
//! `hemalens_core::field::preview` the JNI path (`jni.rs`) runs, for the
//! platforms without JNI (iOS: a `CVPixelBuffer`'s planes as `Data`) and for
//! any app that prefers typed records to JSON.
use crate::error::{guard, HemalensError};
use hemalens_core::field::preview::{Guidance, Plane, Preview, PreviewOptions, YuvFrame};
use std::sync::{Arc, Mutex};

/// One camera session's guide: it measures the red-cell scale on the first
/// frame and then on every `rescale_every`th, and reuses it in between.
/// Thread-safe (calls are taken one at a time).
#[derive(Debug, uniffi::Object)]
pub struct FrameGuide(Mutex<Preview>);

#[uniffi::export]
impl FrameGuide {
    /// Frames are reduced by a whole factor to at most `long_side` pixels
    /// (64 to 4096; 480 is the default of the JNI path); the scale is
    /// measured on every `rescale_every`th frame (at least 1; 15 there).
    #[uniffi::constructor]
    pub fn new(long_side: u32, rescale_every: u32) -> Result<Arc<Self>, HemalensError> {
        if !(64..=4096).contains(&long_side) || rescale_every < 1 {
            return Err(HemalensError::InvalidInput {
                detail: format!(
                    "long_side must be 64 to 4096 and rescale_every at least 1 (got {long_side} and {rescale_every})"
                ),
            });
        }
        let opts = PreviewOptions { long_side, rescale_every, ..PreviewOptions::default() };
        Ok(Arc::new(Self(Mutex::new(Preview::new(opts)))))
    }

    /// Guidance for the next frame: a YUV 4:2:0 image as its planes' bytes
    /// and strides. Android's `YUV_420_888` gives three planes; iOS's
    /// bi-planar `420YpCbCr8BiPlanarFullRange` gives `u` = the CbCr plane,
    /// `v` = the same bytes from offset 1, `uv_pixel_stride` = 2. A frame
    /// that does not fit its strides is `InvalidInput`.
    #[allow(clippy::too_many_arguments)]
    pub fn analyze_yuv(
        &self,
        width: u32,
        height: u32,
        y: &[u8],
        y_row_stride: u32,
        u: &[u8],
        v: &[u8],
        uv_row_stride: u32,
        uv_pixel_stride: u32,
    ) -> Result<Guidance, HemalensError> {
        guard(|| {
            let (ys, cs, cp) = (y_row_stride as usize, uv_row_stride as usize, uv_pixel_stride as usize);
            let frame = YuvFrame::new(
                width,
                height,
                Plane::new(y, ys, 1),
                Plane::new(u, cs, cp),
                Plane::new(v, cs, cp),
            )
            .map_err(|e| HemalensError::InvalidInput { detail: e.to_string() })?;
            Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).guide(&frame))
        })
    }
}
