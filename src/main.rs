use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = chatpulse::config::Cli::parse();
    let settings = match cli.command {
        Some(chatpulse::config::Command::Token { name, ttl, admin }) => {
            return match cli.settings.token_secret {
                Some(secret) => {
                    println!(
                        "{}",
                        chatpulse::auth::Tokens::new(secret.as_bytes()).issue(&name, ttl, admin)
                    );
                    std::process::ExitCode::SUCCESS
                }
                None => {
                    eprintln!("chatpulse token needs --token-secret (or CHATPULSE_TOKEN_SECRET): the server's secret");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Some(chatpulse::config::Command::Serve) | None => cli.settings,
    };
    match actix_web::rt::System::new().block_on(chatpulse::serve(settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            log::error!("fatal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
