// Colour statistics per ROI, as exact integer sums (so any order of accumulation, and so atomics
// on a GPU, give the same result): per-channel sums and sums of squares, the number of pixels
// inside an HSV range (OpenCV's 8-bit HSV: H in [0, 180), S and V in [0, 255], converted exactly
// as cv::cvtColor(COLOR_RGB2HSV) does, with its division tables passed in), and the number of
// dark pixels (V below a threshold). The host turns the sums into means, deviations and
// fractions (src/roi/stats.rs), for both backends alike.
//
// Grid (blocks_per_roi, n_rois), any 1-D block: each thread walks the ROI's pixels with a
// grid stride, sums in registers, then adds its sums to the ROI's accumulator atomically.
// No barriers. Accumulators must be zeroed before the launch.
#include "fovea_cuda.h"

struct fv_stats_roi {
    unsigned long long offset;  // byte offset of the ROI's top-left pixel in `frames`
    unsigned int stride;        // bytes per frame row
    unsigned int w, h;          // ROI size in pixels (>= 1)
};

struct fv_stats_params {
    unsigned int r_index;   // which byte of a pixel is red (0 for RGB, 2 for BGR); blue is 2 - r_index
    unsigned int lower[3];  // HSV range, inclusive
    unsigned int upper[3];
    unsigned int dark_v;    // a pixel is dark when V < dark_v
};

struct fv_stats_acc {
    unsigned long long sum[3];    // R, G, B
    unsigned long long sumsq[3];  // R, G, B
    unsigned long long in_range;
    unsigned long long dark;
};

FV_KERNEL void fovea_colour_stats(const unsigned char* frames, const fv_stats_roi* rois, fv_stats_params p, const int* sdiv, const int* hdiv,
                                  fv_stats_acc* acc) {
    const fv_stats_roi r = rois[FV_BLOCK_Y];
    unsigned long long n = (unsigned long long)r.w * r.h;
    unsigned long long sum[3] = {0, 0, 0}, sumsq[3] = {0, 0, 0};
    unsigned long long in_range = 0, dark = 0;
    unsigned long long step = (unsigned long long)FV_GRID_DIM_X * FV_BLOCK_DIM_X;
    for (unsigned long long i = (unsigned long long)FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X; i < n; i += step) {
        unsigned int py = (unsigned int)(i / r.w), px = (unsigned int)(i % r.w);
        const unsigned char* q = frames + r.offset + (unsigned long long)py * r.stride + px * 3u;
        int red = q[p.r_index], g = q[1], b = q[2 - p.r_index];
        sum[0] += red;
        sum[1] += g;
        sum[2] += b;
        sumsq[0] += (unsigned int)(red * red);
        sumsq[1] += (unsigned int)(g * g);
        sumsq[2] += (unsigned int)(b * b);
        int h, s, v;
        fv_hsv(red, g, b, sdiv, hdiv, &h, &s, &v);
        if ((unsigned int)h >= p.lower[0] && (unsigned int)h <= p.upper[0] && (unsigned int)s >= p.lower[1] && (unsigned int)s <= p.upper[1] &&
            (unsigned int)v >= p.lower[2] && (unsigned int)v <= p.upper[2])
            in_range += 1;
        if ((unsigned int)v < p.dark_v) dark += 1;
    }
    fv_stats_acc* a = acc + FV_BLOCK_Y;
    for (int c = 0; c < 3; ++c) {
        fv_atomic_add_u64(&a->sum[c], sum[c]);
        fv_atomic_add_u64(&a->sumsq[c], sumsq[c]);
    }
    fv_atomic_add_u64(&a->in_range, in_range);
    fv_atomic_add_u64(&a->dark, dark);
}
