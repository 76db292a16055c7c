// Frame quality for key-frame selection, as exact integer sums (so any order of accumulation, and
// so atomics on a GPU, give the same result as the CPU): per frame, over its luma
// Y = (9798 R + 19235 G + 3735 B + 16384) >> 15 (OpenCV 4.x's 8-bit RGB2GRAY, bit-exact):
//   - sum and sum of squares of Y (brightness, contrast);
//   - sum and sum of squares of the 4-neighbour Laplacian of Y over the interior pixels
//     (cv::Laplacian with ksize 1: sharpness is its variance);
//   - sums and sums of squares of rg = R - G and yb2 = R + G - 2B (twice Hasler and Suesstrunk's
//     yb), for colourfulness;
//   - pixels with Y < under and Y > over (exposure);
//   - a 4 x 4 x 4 RGB histogram (for shot boundaries);
//   - sums of Y over a 9 x 8 grid of cells (cell of pixel x is x * 9 / w), from which the host
//     makes the 64-bit difference hash.
// The host turns the sums into measures (src/keyframes/quality.rs), for both backends alike.
//
// Grid (blocks_per_frame, n_frames), any 1-D block: each thread walks the frame's pixels with a
// grid stride, sums the scalars in registers and adds them to the frame's accumulator
// atomically at the end; histogram bins and grid cells are added per pixel. No barriers.
// Accumulators must be zeroed before the launch.
#include "fovea_cuda.h"

#define FV_QUALITY_BINS 64
#define FV_HASH_W 9
#define FV_HASH_H 8

struct fv_quality_frame {
    unsigned long long offset;  // byte offset of the frame's top-left pixel in `frames`
    unsigned int stride;        // bytes per row
    unsigned int w, h;          // size in pixels (>= 1)
};

struct fv_quality_params {
    unsigned int r_index;  // which byte of a pixel is red (0 for RGB, 2 for BGR)
    unsigned int under;    // a pixel is under-exposed when Y < under
    unsigned int over;     // and over-exposed when Y > over
};

struct fv_quality_acc {
    unsigned long long sum_y, sumsq_y;
    unsigned long long sum_lap, sumsq_lap;  // sum_lap is signed (two's complement)
    unsigned long long sum_rg, sumsq_rg;    // sum_rg is signed
    unsigned long long sum_yb, sumsq_yb;    // sum_yb is signed; yb2 = R + G - 2B
    unsigned long long under, over;
    unsigned long long hist[FV_QUALITY_BINS];
    unsigned long long cells[FV_HASH_W * FV_HASH_H];
};

FV_KERNEL void fovea_frame_quality(const unsigned char* frames, const fv_quality_frame* list, fv_quality_params p, fv_quality_acc* acc) {
    const fv_quality_frame f = list[FV_BLOCK_Y];
    fv_quality_acc* a = acc + FV_BLOCK_Y;
    unsigned long long n = (unsigned long long)f.w * f.h;
    unsigned long long sum_y = 0, sumsq_y = 0, sum_lap = 0, sumsq_lap = 0;
    unsigned long long sum_rg = 0, sumsq_rg = 0, sum_yb = 0, sumsq_yb = 0, under = 0, over = 0;
    unsigned long long step = (unsigned long long)FV_GRID_DIM_X * FV_BLOCK_DIM_X;
    for (unsigned long long i = (unsigned long long)FV_BLOCK_X * FV_BLOCK_DIM_X + FV_THREAD_X; i < n; i += step) {
        unsigned int y = (unsigned int)(i / f.w), x = (unsigned int)(i % f.w);
        const unsigned char* row = frames + f.offset + (unsigned long long)y * f.stride;
        const unsigned char* q = row + x * 3u;
        int red = q[p.r_index], g = q[1], b = q[2 - p.r_index];
        int lum = fv_luma(q, p.r_index);
        sum_y += (unsigned long long)lum;
        sumsq_y += (unsigned long long)(lum * lum);
        if ((unsigned int)lum < p.under) under += 1;
        if ((unsigned int)lum > p.over) over += 1;
        int rg = red - g, yb = red + g - 2 * b;
        sum_rg += (unsigned long long)(long long)rg;
        sumsq_rg += (unsigned long long)(rg * rg);
        sum_yb += (unsigned long long)(long long)yb;
        sumsq_yb += (unsigned long long)(yb * yb);
        if (x > 0 && y > 0 && x + 1 < f.w && y + 1 < f.h) {
            int lap = fv_luma(q - 3, p.r_index) + fv_luma(q + 3, p.r_index) + fv_luma(q - f.stride, p.r_index) +
                      fv_luma(q + f.stride, p.r_index) - 4 * lum;
            sum_lap += (unsigned long long)(long long)lap;
            sumsq_lap += (unsigned long long)(lap * lap);
        }
        fv_atomic_add_u64(&a->hist[(red >> 6) * 16 + (g >> 6) * 4 + (b >> 6)], 1ull);
        unsigned int cx = (unsigned int)((unsigned long long)x * FV_HASH_W / f.w);
        unsigned int cy = (unsigned int)((unsigned long long)y * FV_HASH_H / f.h);
        fv_atomic_add_u64(&a->cells[cy * FV_HASH_W + cx], (unsigned long long)lum);
    }
    fv_atomic_add_u64(&a->sum_y, sum_y);
    fv_atomic_add_u64(&a->sumsq_y, sumsq_y);
    fv_atomic_add_u64(&a->sum_lap, sum_lap);
    fv_atomic_add_u64(&a->sumsq_lap, sumsq_lap);
    fv_atomic_add_u64(&a->sum_rg, sum_rg);
    fv_atomic_add_u64(&a->sumsq_rg, sumsq_rg);
    fv_atomic_add_u64(&a->sum_yb, sum_yb);
    fv_atomic_add_u64(&a->sumsq_yb, sumsq_yb);
    fv_atomic_add_u64(&a->under, under);
    fv_atomic_add_u64(&a->over, over);
}
