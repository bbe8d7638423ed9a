fn main() -> std::process::ExitCode {
    kafka_reference::cli::main_from(std::env::args_os())
}
