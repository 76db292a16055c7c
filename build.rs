// fovea's build script. The CUDA kernels (kernels/*.cu) and the C header land with their issues;
// for now it only asks Cargo to rerun when those inputs change.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
}
