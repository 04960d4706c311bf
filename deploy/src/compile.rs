//! Compiling the Foundry project in `contracts/` with foundry-compilers.

use std::{
    collections::BTreeMap,
    env, fs, io,
    path::{Path, PathBuf},
    str::FromStr,
};

use alloy::{json_abi::JsonAbi, primitives::Bytes};
use foundry_compilers::{
    Artifact, ProjectBuilder, ProjectPathsConfig,
    artifacts::{BytecodeHash, EvmVersion, Settings, SettingsMetadata, remappings::Remapping},
    error::SolcError,
    solc::{Solc, SolcCompiler, SolcSettings},
};

/// The EVM version the contracts target; `foundry.toml` says the same.
pub const EVM_VERSION: EvmVersion = EvmVersion::Prague;

/// Optimizer runs; `foundry.toml` says the same.
pub const OPTIMIZER_RUNS: usize = 10_000;

/// Compiles the sources of a Foundry project (`<root>/src`) with one solc.
#[derive(Debug, Clone)]
pub struct ContractsCompiler {
    root: PathBuf,
    solc: PathBuf,
}

impl ContractsCompiler {
    /// A compiler for the Foundry project at `root`, using the solc at `solc`.
    pub fn new(root: impl Into<PathBuf>, solc: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), solc: solc.into() }
    }

    /// Compiles every source under `<root>/src`, in memory: no artifacts or
    /// cache are written, so a `forge build` in the same folder is unaffected.
    pub fn compile(&self) -> Result<Compiled, CompileError> {
        // foundry-compilers runs solc from elsewhere: a relative path with a
        // folder in it would resolve against the wrong directory. A bare
        // name stays as it is, for a lookup on PATH.
        let solc_path = match self.solc.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                std::path::absolute(&self.solc).unwrap_or_else(|_| self.solc.clone())
            }
            _ => self.solc.clone(),
        };
        let solc = Solc::new(&solc_path).map_err(|source| CompileError::Solc {
            path: self.solc.clone(),
            source: Box::new(source),
        })?;
        let version = solc.version.clone();
        // Relative paths would be resolved against solc's working directory,
        // not the caller's.
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        let remappings = read_remappings(&root.join("remappings.txt"))?;
        let paths = ProjectPathsConfig::builder()
            .root(&root)
            .sources(root.join("src"))
            .remappings(remappings)
            .build_with_root(&root);
        let project = ProjectBuilder::<SolcCompiler>::default()
            .paths(paths)
            .settings(SolcSettings { settings: settings(), ..Default::default() })
            .ephemeral()
            .no_artifacts()
            .offline()
            .build(SolcCompiler::Specific(solc))
            .map_err(|source| CompileError::Project { source: Box::new(source) })?;

        let sources = foundry_compilers::utils::sol_source_files(&root.join("src"));
        let output = project
            .compile_files(sources)
            .map_err(|source| CompileError::Project { source: Box::new(source) })?;
        if output.has_compiler_errors() {
            // foundry-compilers colours its report for a terminal; the error
            // may end up in a log or a JSON body instead.
            return Err(CompileError::Failed { diagnostics: strip_ansi(&output.to_string()) });
        }

        let mut contracts = BTreeMap::new();
        for (name, artifact) in output.into_artifacts() {
            let (Some(abi), Some(bytecode)) = (artifact.get_abi(), artifact.get_bytecode_bytes())
            else {
                continue;
            };
            contracts.insert(
                name.name,
                CompiledContract { abi: abi.into_owned(), bytecode: bytecode.into_owned() },
            );
        }
        Ok(Compiled { version: version.to_string(), contracts })
    }
}

/// The solc to compile the Foundry project at `root` with: the one
/// `foundry.toml` names (`<root>/../.tools/bin/solc`, which bootstrap
/// installs), else the first `solc` on `PATH`.
pub fn locate_solc(root: &Path) -> Option<PathBuf> {
    let tools = root.join("..").join(".tools").join("bin").join("solc");
    if tools.is_file() {
        return Some(tools);
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join("solc"))
        .find(|candidate| candidate.is_file())
}

/// Removes ANSI escape sequences (`ESC [ ... <letter>`) from `text`.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip `[`, the parameters, and the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The solc settings shared with `foundry.toml`.
fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.optimizer.enabled = Some(true);
    settings.optimizer.runs = Some(OPTIMIZER_RUNS);
    settings.evm_version = Some(EVM_VERSION);
    settings.metadata = Some(SettingsMetadata::new(BytecodeHash::None, false));
    settings
}

/// Reads a Foundry `remappings.txt`: one `prefix=target` a line, targets
/// relative to the project root.
fn read_remappings(path: &Path) -> Result<Vec<Remapping>, CompileError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CompileError::ReadRemappings { path: path.to_owned(), source });
        }
    };
    let root = path.parent().unwrap_or(Path::new("."));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut remapping = Remapping::from_str(line).map_err(|err| {
                CompileError::InvalidRemapping { line: line.to_owned(), reason: err.to_string() }
            })?;
            remapping.path = root.join(&remapping.path).display().to_string();
            Ok(remapping)
        })
        .collect()
}

/// The contracts of one compilation, by name.
#[derive(Debug, Clone)]
pub struct Compiled {
    version: String,
    contracts: BTreeMap<String, CompiledContract>,
}

impl Compiled {
    /// The compiler version that produced them, as solc reports it.
    pub fn compiler_version(&self) -> &str {
        &self.version
    }

    /// The contract called `name`.
    pub fn contract(&self, name: &str) -> Result<&CompiledContract, CompileError> {
        self.contracts.get(name).ok_or_else(|| CompileError::MissingContract { name: name.into() })
    }

    /// The names of every compiled contract, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.contracts.keys().map(String::as_str)
    }
}

/// A compiled contract: its ABI and creation bytecode.
#[derive(Debug, Clone)]
pub struct CompiledContract {
    /// The contract's ABI.
    pub abi: JsonAbi,
    /// The creation bytecode, without constructor arguments.
    pub bytecode: Bytes,
}

/// Why the contracts could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The solc command could not be run or did not report its version.
    #[error("solc at {} did not run (run scripts/bootstrap.sh to install it)", path.display())]
    Solc {
        /// The solc that was tried.
        path: PathBuf,
        /// What running it reported.
        #[source]
        source: Box<SolcError>,
    },
    /// `remappings.txt` exists but could not be read.
    #[error("cannot read {}", path.display())]
    ReadRemappings {
        /// The remappings file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line of `remappings.txt` is not `prefix=target`.
    #[error("invalid remapping {line:?}: {reason}")]
    InvalidRemapping {
        /// The offending line.
        line: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The project could not be set up or the compiler failed to run.
    #[error("cannot compile the contracts")]
    Project {
        /// The error from foundry-compilers.
        #[source]
        source: Box<SolcError>,
    },
    /// solc ran and reported errors in the sources.
    #[error("the contracts do not compile:\n{diagnostics}")]
    Failed {
        /// solc's diagnostics.
        diagnostics: String,
    },
    /// No compiled contract has the requested name.
    #[error("no contract named {name} was compiled")]
    MissingContract {
        /// The requested name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remappings_are_resolved_against_the_project_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("remappings.txt");
        fs::write(&file, "# libraries\nforge-std/=lib/forge-std/\n\n@oz/=../oz/\n").unwrap();
        let remappings = read_remappings(&file).unwrap();
        assert_eq!(remappings.len(), 2);
        assert_eq!(remappings[0].name, "forge-std/");
        assert_eq!(remappings[0].path, format!("{}/lib/forge-std/", dir.path().display()));
        assert_eq!(remappings[1].path, format!("{}/../oz/", dir.path().display()));
    }

    #[test]
    fn colour_codes_are_stripped_from_diagnostics() {
        let coloured =
            "Compiler run \u{1b}[31mfailed\u{1b}[0m:\n\u{1b}[1;31mError (6933)\u{1b}[0m: x";
        assert_eq!(strip_ansi(coloured), "Compiler run failed:\nError (6933): x");
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn a_missing_remappings_file_means_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_remappings(&dir.path().join("remappings.txt")).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_remapping_is_rejected_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("remappings.txt");
        fs::write(&file, "no-equals-sign\n").unwrap();
        let err = read_remappings(&file).unwrap_err();
        assert!(
            matches!(err, CompileError::InvalidRemapping { ref line, .. } if line == "no-equals-sign")
        );
    }

    #[test]
    fn the_bootstrapped_solc_is_preferred() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("contracts");
        let bin = dir.path().join(".tools").join("bin");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("solc"), "").unwrap();
        assert_eq!(locate_solc(&root), Some(root.join("../.tools/bin/solc")));
    }

    #[test]
    fn a_missing_solc_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let solc = dir.path().join("no-such-solc");
        let err = ContractsCompiler::new(dir.path(), &solc).compile().unwrap_err();
        assert!(matches!(err, CompileError::Solc { ref path, .. } if *path == solc));
        assert!(err.to_string().contains("no-such-solc"));
    }
}
