// Host harness: the CUDA kernels, included as C++ source, and one launcher per kernel that runs
// every thread of the grid in turn (blocks in order, threads in order within a block).
#include "roi.cu"
#include "colour.cu"
#include "quality.cu"
#include "lines.cu"

thread_local fv_dim3 fv_thread_idx, fv_block_idx, fv_block_dim, fv_grid_dim;

template <class F>
static void fv_launch(fv_dim3 grid, fv_dim3 block, F kernel) {
    fv_grid_dim = grid;
    fv_block_dim = block;
    for (unsigned int bz = 0; bz < grid.z; ++bz)
        for (unsigned int by = 0; by < grid.y; ++by)
            for (unsigned int bx = 0; bx < grid.x; ++bx) {
                fv_block_idx = fv_dim3{bx, by, bz};
                for (unsigned int tz = 0; tz < block.z; ++tz)
                    for (unsigned int ty = 0; ty < block.y; ++ty)
                        for (unsigned int tx = 0; tx < block.x; ++tx) {
                            fv_thread_idx = fv_dim3{tx, ty, tz};
                            kernel();
                        }
            }
}

extern "C" void harness_roi_batch_f32(fv_dim3 grid, fv_dim3 block, const unsigned char* frames, const fv_roi* rois, unsigned int size,
                                      const fv_norm* norm, float* out) {
    fv_launch(grid, block, [&] { fovea_roi_batch_f32(frames, rois, size, *norm, out); });
}

extern "C" void harness_roi_batch_f16(fv_dim3 grid, fv_dim3 block, const unsigned char* frames, const fv_roi* rois, unsigned int size,
                                      const fv_norm* norm, unsigned short* out) {
    fv_launch(grid, block, [&] { fovea_roi_batch_f16(frames, rois, size, *norm, out); });
}

extern "C" void harness_colour_stats(fv_dim3 grid, fv_dim3 block, const unsigned char* frames, const fv_stats_roi* rois,
                                     const fv_stats_params* p, const int* sdiv, const int* hdiv, fv_stats_acc* acc) {
    fv_launch(grid, block, [&] { fovea_colour_stats(frames, rois, *p, sdiv, hdiv, acc); });
}

extern "C" void harness_frame_quality(fv_dim3 grid, fv_dim3 block, const unsigned char* frames, const fv_quality_frame* list,
                                      const fv_quality_params* p, fv_quality_acc* acc) {
    fv_launch(grid, block, [&] { fovea_frame_quality(frames, list, *p, acc); });
}

extern "C" void harness_line_prep(fv_dim3 grid, fv_dim3 block, const unsigned char* frame, const fv_line_frame* f, const fv_line_params* p,
                                  const int* sdiv, const int* hdiv, unsigned char* gray, unsigned char* grass) {
    fv_launch(grid, block, [&] { fovea_line_prep(frame, *f, *p, sdiv, hdiv, gray, grass); });
}

extern "C" void harness_line_window(fv_dim3 grid, fv_dim3 block, const unsigned char* src, unsigned char* dst, unsigned int w, unsigned int h,
                                    unsigned int radius, unsigned int columns, unsigned int is_max) {
    fv_launch(grid, block, [&] { fovea_line_window(src, dst, w, h, radius, columns, is_max); });
}

extern "C" void harness_line_mask(fv_dim3 grid, fv_dim3 block, const unsigned char* gray, const unsigned char* opened, const unsigned char* grass,
                                  unsigned int w, unsigned int h, unsigned int white, unsigned char* mask) {
    fv_launch(grid, block, [&] { fovea_line_mask(gray, opened, grass, w, h, white, mask); });
}

extern "C" unsigned short harness_f16(float v) { return fv_f16(v); }
