use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = chatpulse::config::Cli::parse().settings();
    match actix_web::rt::System::new().block_on(chatpulse::serve(settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            log::error!("fatal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
