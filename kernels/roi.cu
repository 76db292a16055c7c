// ROI batch: crop every box out of its frame, resize it bilinearly to S x S (OpenCV INTER_LINEAR:
// half-pixel centres, clamp-to-edge at the crop's border, no antialias), optionally letterboxed,
// normalise, and write one NCHW tensor for the whole batch, float32 or float16.
//
// One thread per output pixel: grid (ceil(S/bx), ceil(S/by), n_rois), any block shape.
// The Rust implementation in src/roi/mod.rs defines the semantics; the host harness
// (kernels/harness) runs this file on the CPU and compares the two in every test run.
#include "fovea_cuda.h"

// One ROI, prepared on the host (src/roi/mod.rs, `RoiDesc`): the crop is a rectangle of whole
// pixels inside its frame (w, h >= 1); the resized crop covers [fit_x, fit_x + fit_w) x
// [fit_y, fit_y + fit_h) of the S x S output and the rest is padding.
struct fv_roi {
    unsigned long long offset;  // byte offset of the crop's top-left pixel in `frames`
    unsigned int stride;        // bytes per frame row
    unsigned int w, h;          // crop size in pixels
    unsigned int fit_x, fit_y, fit_w, fit_h;
};

// out = pixel * scale[c] + bias[c] (i.e. (pixel - mean) / std), per output channel; `pad` is
// already normalised. swap_rb: output channel c reads frame channel 2 - c (RGB frames into a BGR
// tensor or the reverse).
struct fv_norm {
    float scale[3];
    float bias[3];
    float pad[3];
    unsigned int swap_rb;
};

// One axis of the bilinear map: output coordinate `d` of `dst` samples over `src` samples.
FV_DEVICE void fv_tap(unsigned int d, unsigned int src, unsigned int dst, unsigned int* i0, unsigned int* i1, float* w) {
    // In double like OpenCV's and the Rust implementation's: a float position drifts by up to
    // 1e-4 of a pixel on 1080p crops. Two taps per output pixel; the cost is not measurable.
    double f = ((double)d + 0.5) * ((double)src / (double)dst) - 0.5;
    double s = (double)(long long)f;
    if (s > f) s -= 1.0;  // floor
    float wt = (float)(f - s);
    double last = (double)(src - 1);
    if (s < 0.0) {
        s = 0.0;
        wt = 0.0f;
    }
    if (s >= last) {
        s = last;
        wt = 0.0f;
    }
    *i0 = (unsigned int)s;
    *i1 = *i0 + 1 < src ? *i0 + 1 : src - 1;
    *w = wt;
}

// float -> IEEE half, round to nearest even (the same function as the `half` crate's).
FV_DEVICE unsigned short fv_f16(float value) {
    union {
        float f;
        unsigned int u;
    } v;
    v.f = value;
    unsigned int x = v.u;
    unsigned int sign = (x >> 16) & 0x8000u;
    unsigned int exp = x & 0x7f800000u;
    unsigned int man = x & 0x007fffffu;
    if (exp == 0x7f800000u) {
        unsigned int nan_bit = man == 0 ? 0u : 0x0200u;
        return (unsigned short)(sign | 0x7c00u | nan_bit | (man >> 13));
    }
    int half_exp = (int)(exp >> 23) - 127 + 15;
    if (half_exp >= 0x1f) return (unsigned short)(sign | 0x7c00u);
    if (half_exp <= 0) {
        if (14 - half_exp > 24) return (unsigned short)sign;
        man |= 0x00800000u;
        unsigned int half_man = man >> (14 - half_exp);
        unsigned int round_bit = 1u << (13 - half_exp);
        if ((man & round_bit) != 0 && (man & (3u * round_bit - 1u)) != 0) half_man += 1;
        return (unsigned short)(sign | half_man);
    }
    unsigned int h = sign | ((unsigned int)half_exp << 10) | (man >> 13);
    unsigned int round_bit = 0x1000u;
    if ((man & round_bit) != 0 && (man & (3u * round_bit - 1u)) != 0) h += 1;
    return (unsigned short)h;
}

// The three normalised channels of output pixel (x, y) of ROI `r`.
FV_DEVICE void fv_roi_pixel(const unsigned char* frames, const fv_roi* r, fv_norm norm, unsigned int x, unsigned int y, float out[3]) {
    if (x < r->fit_x || y < r->fit_y || x >= r->fit_x + r->fit_w || y >= r->fit_y + r->fit_h) {
        out[0] = norm.pad[0];
        out[1] = norm.pad[1];
        out[2] = norm.pad[2];
        return;
    }
    unsigned int x0, x1, y0, y1;
    float wx, wy;
    fv_tap(x - r->fit_x, r->w, r->fit_w, &x0, &x1, &wx);
    fv_tap(y - r->fit_y, r->h, r->fit_h, &y0, &y1, &wy);
    const unsigned char* row0 = frames + r->offset + (unsigned long long)y0 * r->stride;
    const unsigned char* row1 = frames + r->offset + (unsigned long long)y1 * r->stride;
    for (int c = 0; c < 3; ++c) {
        int sc = norm.swap_rb ? 2 - c : c;
        // Horizontal first, then vertical (the Rust implementation's order for enlarged crops).
        float a = (float)row0[x0 * 3 + sc];
        float b = (float)row1[x0 * 3 + sc];
        float h0 = a + ((float)row0[x1 * 3 + sc] - a) * wx;
        float h1 = b + ((float)row1[x1 * 3 + sc] - b) * wx;
        out[c] = (h0 + (h1 - h0) * wy) * norm.scale[c] + norm.bias[c];
    }
}

// Output pixel (x, y) of ROI blockIdx.z this thread computes, and where its first channel goes
// in the NCHW batch; false for threads of the grid's overhang.
FV_DEVICE bool fv_roi_site(unsigned int size, unsigned int* x, unsigned int* y, unsigned long long* at, unsigned long long* plane) {
    *x = FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X;
    *y = FV_BLOCK_Y * FV_BLOCK_DIM_Y + FV_THREAD_Y;
    if (*x >= size || *y >= size) return false;
    *plane = (unsigned long long)size * size;
    *at = (unsigned long long)FV_BLOCK_Z * 3 * *plane + (unsigned long long)*y * size + *x;
    return true;
}

FV_KERNEL void fovea_roi_batch_f32(const unsigned char* frames, const fv_roi* rois, unsigned int size, fv_norm norm, float* out) {
    unsigned int x, y;
    unsigned long long at, plane;
    if (!fv_roi_site(size, &x, &y, &at, &plane)) return;
    float px[3];
    fv_roi_pixel(frames, rois + FV_BLOCK_Z, norm, x, y, px);
    out[at] = px[0];
    out[at + plane] = px[1];
    out[at + 2 * plane] = px[2];
}

FV_KERNEL void fovea_roi_batch_f16(const unsigned char* frames, const fv_roi* rois, unsigned int size, fv_norm norm, unsigned short* out) {
    unsigned int x, y;
    unsigned long long at, plane;
    if (!fv_roi_site(size, &x, &y, &at, &plane)) return;
    float px[3];
    fv_roi_pixel(frames, rois + FV_BLOCK_Z, norm, x, y, px);
    out[at] = fv_f16(px[0]);
    out[at + plane] = fv_f16(px[1]);
    out[at + 2 * plane] = fv_f16(px[2]);
}
