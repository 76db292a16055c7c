// fovea_cuda.h: the kernels' only header. It maps the few CUDA built-ins the kernels use onto
// whatever compiles them, so that kernels/*.cu need no CUDA header at all:
//   - nvcc and NVRTC: CUDA's own built-ins (threadIdx, atomicAdd, ...);
//   - clang with -nocudainc (PTX without a CUDA installation): NVVM builtins;
//   - a plain C++ compiler (the host harness, kernels/harness): one CPU thread walks the whole
//     grid, block by block and thread by thread, through the globals below. Kernels use no
//     barriers, so running threads one after another is a valid schedule.
#ifndef FOVEA_CUDA_H
#define FOVEA_CUDA_H

#if defined(__CUDACC_RTC__) || (defined(__CUDACC__) && !defined(__clang__))
// nvcc / NVRTC
#define FV_DEVICE __device__ __forceinline__
#define FV_KERNEL extern "C" __global__
#define FV_THREAD_X threadIdx.x
#define FV_THREAD_Y threadIdx.y
#define FV_BLOCK_X blockIdx.x
#define FV_BLOCK_Y blockIdx.y
#define FV_BLOCK_Z blockIdx.z
#define FV_BLOCK_DIM_X blockDim.x
#define FV_BLOCK_DIM_Y blockDim.y
#define FV_GRID_DIM_X gridDim.x

FV_DEVICE void fv_atomic_add_u64(unsigned long long* p, unsigned long long v) { atomicAdd(p, v); }

#elif defined(__clang__) && defined(__CUDA__)
// clang -x cuda --cuda-device-only -nocudainc
#define FV_DEVICE __attribute__((device)) __inline__ __attribute__((always_inline))
#define FV_KERNEL extern "C" __attribute__((global))
#define FV_THREAD_X __nvvm_read_ptx_sreg_tid_x()
#define FV_THREAD_Y __nvvm_read_ptx_sreg_tid_y()
#define FV_BLOCK_X __nvvm_read_ptx_sreg_ctaid_x()
#define FV_BLOCK_Y __nvvm_read_ptx_sreg_ctaid_y()
#define FV_BLOCK_Z __nvvm_read_ptx_sreg_ctaid_z()
#define FV_BLOCK_DIM_X __nvvm_read_ptx_sreg_ntid_x()
#define FV_BLOCK_DIM_Y __nvvm_read_ptx_sreg_ntid_y()
#define FV_GRID_DIM_X __nvvm_read_ptx_sreg_nctaid_x()

FV_DEVICE void fv_atomic_add_u64(unsigned long long* p, unsigned long long v) { __nvvm_atom_add_gen_ll((long long*)p, (long long)v); }

#else
// Host harness: a C++ compiler for the CPU.
struct fv_dim3 {
    unsigned int x, y, z;
};
extern thread_local fv_dim3 fv_thread_idx, fv_block_idx, fv_block_dim, fv_grid_dim;
#define FV_DEVICE static inline
#define FV_KERNEL extern "C"
#define FV_THREAD_X fv_thread_idx.x
#define FV_THREAD_Y fv_thread_idx.y
#define FV_BLOCK_X fv_block_idx.x
#define FV_BLOCK_Y fv_block_idx.y
#define FV_BLOCK_Z fv_block_idx.z
#define FV_BLOCK_DIM_X fv_block_dim.x
#define FV_BLOCK_DIM_Y fv_block_dim.y
#define FV_GRID_DIM_X fv_grid_dim.x

FV_DEVICE void fv_atomic_add_u64(unsigned long long* p, unsigned long long v) { *p += v; }
#endif


// ---- Device helpers shared by the kernels ------------------------------------------------------

// OpenCV's 8-bit luma of an RGB (r_index 0) or BGR (r_index 2) pixel, bit-exact with
// cv::cvtColor(..., COLOR_RGB2GRAY) of OpenCV 4.x: Y = (9798 R + 19235 G + 3735 B + 16384) >> 15.
FV_DEVICE int fv_luma(const unsigned char* q, unsigned int r_index) {
    return (9798 * q[r_index] + 19235 * q[1] + 3735 * q[2 - r_index] + 16384) >> 15;
}

// OpenCV's 8-bit HSV of (red, g, b), bit-exact with cv::cvtColor(COLOR_RGB2HSV) (hsv_shift = 12),
// given its division tables: H in [0, 180), S and V in [0, 255].
FV_DEVICE void fv_hsv(int red, int g, int b, const int* sdiv, const int* hdiv, int* h_out, int* s_out, int* v_out) {
    int v = b, vmin = b;
    if (g > v) v = g;
    if (red > v) v = red;
    if (g < vmin) vmin = g;
    if (red < vmin) vmin = red;
    int diff = v - vmin;
    int vr = v == red ? -1 : 0;
    int vg = v == g ? -1 : 0;
    int s = (diff * sdiv[v] + (1 << 11)) >> 12;
    int h = (vr & (g - b)) + (~vr & ((vg & (b - red + 2 * diff)) + ((~vg) & (red - g + 4 * diff))));
    h = (h * hdiv[diff] + (1 << 11)) >> 12;
    h += h < 0 ? 180 : 0;
    *h_out = h;
    *s_out = s;
    *v_out = v;
}

#endif  // FOVEA_CUDA_H
