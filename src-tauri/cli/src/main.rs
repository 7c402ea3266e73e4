fn main() -> std::process::ExitCode {
    onair_cli::main()
}
