//! Everything that makes fvs-vsctl fail. Each variant's message is ovs-vsctl's wording for the
//! same failure; `run` prefixes it with the program name.

use thiserror::Error;

/// A failure of a command line, a command or the conversation with the server.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum VsctlError {
    /// `--db` names a connection method this client does not speak.
    #[error("{0}: unknown or unsupported connection method")]
    BadRemote(String),
    /// The server could not be reached.
    #[error("{remote}: database connection failed ({reason})")]
    Connect {
        /// The remote as given.
        remote: String,
        /// The system's explanation.
        reason: String,
    },
    /// The server broke the protocol or the connection.
    #[error("database connection failed ({0})")]
    Protocol(String),
    /// The server answered a request with an error.
    #[error("database request failed: {0}")]
    Rpc(String),
    /// The server's schema could not be read.
    #[error("bad schema from server: {0}")]
    Schema(String),
    /// `--timeout` expired.
    #[error("timed out after {0} seconds")]
    Timeout(u64),
    /// A transaction failed on the server.
    #[error("transaction error: {0}")]
    Transaction(String),
    /// An option that does not exist or lacks its argument.
    #[error("{0}")]
    Usage(String),
    /// A command name that does not exist.
    #[error("unknown command '{0}'; use --help for help")]
    UnknownCommand(String),
    /// A command with too few arguments.
    #[error("'{command}' command requires at least {min} arguments")]
    TooFewArguments {
        /// The command.
        command: String,
        /// The least it takes.
        min: usize,
    },
    /// A command with too many arguments; when one of them starts with `-` it was probably
    /// meant as an option, and the message says where options go.
    #[error("'{command}' command takes at most {max} arguments{}", options_note(*.dashed))]
    TooManyArguments {
        /// The command.
        command: String,
        /// The most it takes.
        max: usize,
        /// Whether an argument starts with `-`.
        dashed: bool,
    },
    /// An option given to a command that does not accept it.
    #[error("'{command}' command has no '{option}' option")]
    BadCommandOption {
        /// The command.
        command: String,
        /// The option.
        option: String,
    },
    /// No bridge has this name.
    #[error("no bridge named {0}")]
    NoBridge(String),
    /// No port has this name.
    #[error("no port named {0}")]
    NoPort(String),
    /// No interface has this name.
    #[error("no interface named {0}")]
    NoInterface(String),
    /// Any other failure of a command, in ovs-vsctl's words (built by the command that
    /// detected it, because its wording depends on that command's arguments).
    #[error("{0}")]
    Command(String),
    /// A table name that matches no table.
    #[error("unknown table \"{0}\"")]
    UnknownTable(String),
    /// A table name that matches several tables.
    #[error("multiple table names match \"{0}\"")]
    AmbiguousTable(String),
    /// A column name that matches no column.
    #[error("{table} does not contain a column whose name matches \"{column}\"")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The name given.
        column: String,
    },
    /// A record that does not exist.
    #[error("no row \"{record}\" in table {table}")]
    NoRow {
        /// The table.
        table: String,
        /// The record as given.
        record: String,
    },
    /// A value that does not parse or breaks its column's constraints.
    #[error("{0}")]
    BadValue(String),
}

/// ovs-vsctl's reminder, after a count error, for arguments that look like options.
fn options_note(dashed: bool) -> &'static str {
    if dashed {
        " (note that options must precede command names and follow a \"--\" argument)"
    } else {
        ""
    }
}
