//! Where the chain's colour statistics and ROI tensors are made: the CPU, or a GPU's reused
//! buffers (frames uploaded once per batch), and the classifier fed from the one or the other.
#![forbid(unsafe_code)]

use crate::classify::{Classifier, Object};
use crate::error::Result;
use crate::image::FrameView;
use crate::results::Label;
use crate::roi::{self, ColourStats, Crop, RoiBatch, RoiRef, RoiSpec, StatsParams};

use super::StageCounts;

/// Where statistics and ROI tensors are made: the CPU, or the GPU's reused buffers.
pub(super) struct RoiSide {
    /// The host ROI batch (the CPU's, or a download of the GPU's for a CPU classifier).
    pub(super) batch: RoiBatch,
    pub(super) gpu: Option<crate::cuda::rois::DeviceRois>,
    /// Whether the current frames are on the GPU already.
    pub(super) uploaded: bool,
}

impl RoiSide {
    pub(super) fn upload(&mut self, views: &[FrameView]) -> Result<()> {
        if let (Some(g), false) = (self.gpu.as_mut(), self.uploaded) {
            g.upload_frames(views)?;
            self.uploaded = true;
        }
        Ok(())
    }

    pub(super) fn stats(&mut self, views: &[FrameView], measured: &[(usize, Crop)], params: &StatsParams) -> Result<Vec<ColourStats>> {
        if self.gpu.is_some() {
            self.upload(views)?;
            return self.gpu.as_mut().expect("checked").colour_stats(measured, params);
        }
        Ok(roi::colour_stats(views, measured, params))
    }

    /// The ROI batch of `refs` (on the GPU over the uploaded frames, else on the host).
    pub(super) fn make(&mut self, views: &[FrameView], refs: &[RoiRef], spec: &RoiSpec) -> Result<()> {
        if self.gpu.is_some() {
            self.upload(views)?;
            self.gpu.as_mut().expect("checked").extract(refs, spec)?;
            return Ok(());
        }
        roi::extract(views, refs, spec, &mut self.batch);
        Ok(())
    }

    /// The classifier on `objects`: from the device ROI batch when both are on the GPU, else from
    /// the host batch (downloaded first when the ROIs were made on the GPU; counted).
    pub(super) fn classify(
        &mut self,
        c: &mut dyn Classifier,
        objects: &[Object],
        reads: bool,
        counts: &mut StageCounts,
    ) -> Result<Vec<Label>> {
        if let (Some(g), true) = (self.gpu.as_ref(), reads) {
            if let Some(r) = c.classify_device(&g.batch(), objects) {
                return r;
            }
            g.download(&mut self.batch)?;
            counts.roi_downloads += 1;
        }
        if !reads {
            self.batch.n = 0;
        }
        c.classify(&self.batch, objects)
    }
}
