// Compiles kernels/*.cu as plain C++ (the portability header kernels/fovea_cuda.h turns CUDA's
// built-ins into a CPU walk over the grid). No fast-math and no FMA contraction, so the
// harness computes exactly what the C source says.
fn main() {
    println!("cargo:rerun-if-changed=harness.cpp");
    println!("cargo:rerun-if-changed=../fovea_cuda.h");
    println!("cargo:rerun-if-changed=../roi.cu");
    println!("cargo:rerun-if-changed=../colour.cu");
    println!("cargo:rerun-if-changed=../quality.cu");
    println!("cargo:rerun-if-changed=../lines.cu");
    cc::Build::new()
        .cpp(true)
        .file("harness.cpp")
        .include("..")
        .flag_if_supported("-std=c++14")
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .flag_if_supported("-Werror")
        .opt_level(2)
        .compile("fovea_kernel_harness");
}
