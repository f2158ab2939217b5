fn main() {
    println!("rampart {}", env!("CARGO_PKG_VERSION"));
}
