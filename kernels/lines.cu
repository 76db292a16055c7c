// Pitch lines of a frame, as the Score Vision validator finds them (keypoint_scoring.py,
// detect_pitch_lines_tophat) up to its line fitting: a white-line mask that is
//   white = top-hat(gray, 31 x 31 rectangle) > 30     (gray: OpenCV's 8-bit luma)
//   grass = opening(HSV in [35, 40, 40]..[85, 255, 255], 5 x 5 rectangle)
//   lines = white & grass
// Morphology is OpenCV's: erosion ignores pixels outside the frame (its border value is the
// maximum), dilation likewise (the minimum); opening = dilate(erode(x)); top-hat = x - opening(x).
// Everything is integer and exact, so the CPU (src/score/lines.rs) and this kernel agree bit for
// bit. The host finds the mask's boundary pixels and measures keypoints against them.
//
// Three kernels, each one thread per output pixel with a grid stride, no barriers:
//   fovea_line_prep     frame -> gray plane, grass plane (0/1)
//   fovea_line_window   one separable pass of a min or max filter over a plane (rows or columns)
//   fovea_line_mask     gray, opened gray, opened grass -> mask (0/1)
#include "fovea_cuda.h"

struct fv_line_frame {
    unsigned int stride;   // bytes per frame row
    unsigned int w, h;     // size in pixels (>= 1)
    unsigned int r_index;  // which byte of a pixel is red (0 for RGB, 2 for BGR)
};

struct fv_line_params {
    unsigned int lower[3];  // grass: HSV range, inclusive
    unsigned int upper[3];
    unsigned int white;     // top-hat threshold: white when top-hat > white
};

FV_KERNEL void fovea_line_prep(const unsigned char* frame, fv_line_frame f, fv_line_params p, const int* sdiv, const int* hdiv, unsigned char* gray,
                               unsigned char* grass) {
    unsigned long long n = (unsigned long long)f.w * f.h;
    unsigned long long step = (unsigned long long)FV_GRID_DIM_X * FV_BLOCK_DIM_X;
    for (unsigned long long i = (unsigned long long)FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X; i < n; i += step) {
        unsigned int y = (unsigned int)(i / f.w), x = (unsigned int)(i % f.w);
        const unsigned char* q = frame + (unsigned long long)y * f.stride + x * 3u;
        gray[i] = (unsigned char)fv_luma(q, f.r_index);
        int h, s, v;
        fv_hsv(q[f.r_index], q[1], q[2 - f.r_index], sdiv, hdiv, &h, &s, &v);
        grass[i] = (unsigned int)h >= p.lower[0] && (unsigned int)h <= p.upper[0] && (unsigned int)s >= p.lower[1] &&
                   (unsigned int)s <= p.upper[1] && (unsigned int)v >= p.lower[2] && (unsigned int)v <= p.upper[2];
    }
}

// dst = min (is_max 0) or max (is_max 1) of src over [x - radius, x + radius] (columns 0) or
// [y - radius, y + radius] (columns 1), inside the plane.
FV_KERNEL void fovea_line_window(const unsigned char* src, unsigned char* dst, unsigned int w, unsigned int h, unsigned int radius,
                                 unsigned int columns, unsigned int is_max) {
    unsigned long long n = (unsigned long long)w * h;
    unsigned long long step = (unsigned long long)FV_GRID_DIM_X * FV_BLOCK_DIM_X;
    for (unsigned long long i = (unsigned long long)FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X; i < n; i += step) {
        unsigned int y = (unsigned int)(i / w), x = (unsigned int)(i % w);
        unsigned int at = columns ? y : x, len = columns ? h : w;
        unsigned int lo = at > radius ? at - radius : 0u, hi = at + radius < len ? at + radius : len - 1u;
        unsigned int best = is_max ? 0u : 255u;
        for (unsigned int k = lo; k <= hi; ++k) {
            unsigned int v = columns ? src[(unsigned long long)k * w + x] : src[(unsigned long long)y * w + k];
            if (is_max ? v > best : v < best) best = v;
        }
        dst[i] = (unsigned char)best;
    }
}

FV_KERNEL void fovea_line_mask(const unsigned char* gray, const unsigned char* opened, const unsigned char* grass, unsigned int w, unsigned int h,
                               unsigned int white, unsigned char* mask) {
    unsigned long long n = (unsigned long long)w * h;
    unsigned long long step = (unsigned long long)FV_GRID_DIM_X * FV_BLOCK_DIM_X;
    for (unsigned long long i = (unsigned long long)FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X; i < n; i += step)
        mask[i] = (unsigned int)(gray[i] - opened[i]) > white && grass[i];
}
