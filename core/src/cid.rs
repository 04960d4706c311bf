//! Streaming computation of the CID that Kubo (go-ipfs, via boxo's UnixFS importer) gives a
//! file added with `ipfs add --cid-version=1 --raw-leaves` and otherwise default settings:
//! fixed-size chunker `size-262144`, balanced layout, at most 174 links per node, sha2-256.
//!
//! # The layout, as Kubo builds it (verified against Kubo 0.43 and boxo's source)
//!
//! * **Chunks.** The file is cut into 262144-byte chunks; only the last may be shorter. A file
//!   whose length is a multiple of the chunk size has no trailing empty chunk.
//! * **Leaves.** Each chunk is a *raw* block (codec `0x55`): its CID hashes the chunk bytes
//!   alone, with no UnixFS or dag-pb wrapping.
//! * **Small files.** The empty file is one empty raw block
//!   (`bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku`), and a file of exactly one
//!   chunk (1 to 262144 bytes) is its raw leaf: no dag-pb root above it.
//! * **Balanced tree** (`importer/balanced/builder.go`). All leaves sit at the same depth. Kubo
//!   starts with the first leaf as root; whenever more data remains, it makes a new root whose
//!   first child is the old root (a full tree of depth `d`) and fills it with further subtrees of
//!   depth `d`, left to right, each filled as far as the data goes. So a file of `n >= 2` chunks
//!   has depth `d`, the smallest with `174^d >= n`, and the last subtree on each level may be
//!   partial, down to a chain of single-child internal nodes above the last leaf (for instance
//!   `174 * 174 + 1` chunks give a root with two children: a full depth-2 tree, and a node
//!   holding one node holding the last leaf). 174 chunks still fit in one root; 175 need depth 2.
//! * **Internal nodes** are dag-pb (codec `0x70`), encoded as go-codec-dagpb writes them:
//!   the `Links` (field 2) come *before* `Data` (field 1); each link is `Hash` (field 1, the
//!   binary CID), `Name` (field 2) written even though empty (`12 00`), then `Tsize` (field 3).
//!   `Data` holds the UnixFS message: `Type = File` (`08 02`), `filesize` (field 3), then one
//!   `blocksizes` entry (field 4) per child, *not* packed, each the number of file bytes under
//!   that child. With raw leaves an internal node carries no file bytes, so the UnixFS `Data`
//!   field (field 2) is absent.
//! * **Tsize** of a link is the cumulative size of the block it points to: a raw leaf's length,
//!   or, for an internal node, its own encoded length plus the `Tsize`s of its links.
//!
//! The builder here keeps one running SHA-256 for the current chunk (never the chunk's bytes)
//! and, per tree level, the links of the node being filled there: memory proportional to the
//! tree's width (`174 * depth` links), not to the file.

use sha2::{Digest, Sha256};

/// Kubo's default chunk size (`--chunker=size-262144`).
pub const CHUNK_SIZE: usize = 262_144;

/// Kubo's default maximum number of links in a file node (`Import.UnixFSFileMaxLinks`).
pub const MAX_LINKS: usize = 174;

/// Length of a binary CIDv1 with a sha2-256 multihash: version, codec, hash code, length, digest.
const CID_LEN: usize = 36;

/// Multicodec of a raw block (a leaf holding file bytes only).
const CODEC_RAW: u8 = 0x55;

/// Multicodec of a dag-pb block (an internal UnixFS node).
const CODEC_DAG_PB: u8 = 0x70;

/// Multihash code of sha2-256.
const MH_SHA2_256: u8 = 0x12;

/// UnixFS `Data.DataType` value for `File`.
const UNIXFS_TYPE_FILE: u64 = 2;

/// A child of an internal node: what its parent needs to know about it.
#[derive(Clone, Copy)]
struct Link {
    /// The child's binary CID.
    cid: [u8; CID_LEN],
    /// Cumulative block size of the child's subtree (the dag-pb link's `Tsize`).
    tsize: u64,
    /// Number of file bytes under the child (the parent's UnixFS `blocksizes` entry).
    filesize: u64,
}

/// The CID Kubo gives a file added with `--cid-version=1 --raw-leaves` and its default chunker
/// (256 KiB) and balanced layout (174 links a node), computed as the bytes stream through, in
/// memory proportional to the tree's width, not the file.
///
/// ```
/// let mut c = medvault_core::cid::FileCid::new();
/// c.update(b"hello ");
/// c.update(b"world");
/// let cid = c.finish();
/// assert_eq!(&cid[..4], &[0x01, 0x55, 0x12, 0x20]); // one chunk: a raw leaf
/// ```
pub struct FileCid {
    /// Bytes per chunk (262144 for Kubo's default).
    chunk_size: usize,
    /// Maximum links per internal node (174 for Kubo's default).
    max_links: usize,
    /// Running hash of the current, not yet complete, chunk.
    leaf: Sha256,
    /// Bytes in the current chunk so far.
    leaf_len: usize,
    /// Number of chunks completed so far.
    leaves: u64,
    /// `levels[h]` holds the links of the node at height `h + 1` that is being filled. A full
    /// level is only folded into its parent when one more link arrives, since a full node may
    /// still turn out to be the root.
    levels: Vec<Vec<Link>>,
}

impl Default for FileCid {
    fn default() -> Self {
        Self::new()
    }
}

impl FileCid {
    /// A builder for Kubo's default layout: 262144-byte chunks, at most 174 links a node.
    pub fn new() -> Self {
        Self::with_layout(CHUNK_SIZE, MAX_LINKS)
    }

    /// A builder for a non-default layout: what Kubo does with `--chunker=size-<chunk_size>`
    /// and `Import.UnixFSFileMaxLinks = <max_links>` (otherwise as [`FileCid::new`]). Small
    /// values let tests check deep trees against Kubo without gigabytes of data. Values below
    /// 1 (chunk size) or 2 (links) are raised to those minimums.
    pub fn with_layout(chunk_size: usize, max_links: usize) -> Self {
        FileCid {
            chunk_size: chunk_size.max(1),
            max_links: max_links.max(2),
            leaf: Sha256::new(),
            leaf_len: 0,
            leaves: 0,
            levels: Vec::new(),
        }
    }

    /// Feeds the next bytes of the file (any split).
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (self.chunk_size - self.leaf_len).min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            self.leaf.update(head);
            self.leaf_len += take;
            bytes = rest;
            // A full chunk is final whatever follows (Kubo emits no trailing empty chunk),
            // so it can become a leaf now.
            if self.leaf_len == self.chunk_size {
                self.finish_leaf();
            }
        }
    }

    /// The binary CID (CIDv1: version 0x01, codec varint (0x55 raw for a file of one chunk or
    /// empty, 0x70 dag-pb otherwise), multihash 0x12 0x20 + 32-byte digest), 36 bytes.
    pub fn finish(mut self) -> Vec<u8> {
        // The partial last chunk, or the one empty leaf of an empty file.
        if self.leaf_len > 0 || self.leaves == 0 {
            self.finish_leaf();
        }
        if self.leaves == 1 {
            // A single chunk is the root itself.
            return self.levels[0][0].cid.to_vec();
        }
        // Close the partial node on each level, bottom up, and hand it to its parent; the
        // topmost level, once everything below has been added to it, is the root.
        let mut height = 0;
        loop {
            let links = std::mem::take(&mut self.levels[height]);
            let node = internal_node(&links);
            if height + 1 == self.levels.len() {
                return node.cid.to_vec();
            }
            self.push_link(height + 1, node);
            height += 1;
        }
    }

    /// Turns the current chunk into a raw leaf and adds it to the bottom level.
    fn finish_leaf(&mut self) {
        let digest = self.leaf.finalize_reset();
        let len = self.leaf_len as u64;
        self.leaf_len = 0;
        self.leaves += 1;
        let link = Link { cid: cid_v1(CODEC_RAW, &digest), tsize: len, filesize: len };
        self.push_link(0, link);
    }

    /// Adds `link` to the node being filled at `height`, first closing that node into its
    /// parent if it is already full (the balanced builder then starts a sibling subtree).
    fn push_link(&mut self, height: usize, link: Link) {
        if self.levels.len() == height {
            self.levels.push(Vec::with_capacity(self.max_links));
        }
        if self.levels[height].len() == self.max_links {
            let full = std::mem::take(&mut self.levels[height]);
            let node = internal_node(&full);
            self.push_link(height + 1, node);
        }
        self.levels[height].push(link);
    }
}

/// Encodes an internal UnixFS file node over `links` as dag-pb and returns the link to it.
fn internal_node(links: &[Link]) -> Link {
    let filesize: u64 = links.iter().map(|l| l.filesize).sum();

    // UnixFS Data message: Type = File, filesize, then blocksizes one by one (not packed).
    let mut unixfs = Vec::with_capacity(12 + 5 * links.len());
    put_key(&mut unixfs, 1, 0);
    put_varint(&mut unixfs, UNIXFS_TYPE_FILE);
    put_key(&mut unixfs, 3, 0);
    put_varint(&mut unixfs, filesize);
    for link in links {
        put_key(&mut unixfs, 4, 0);
        put_varint(&mut unixfs, link.filesize);
    }

    // dag-pb PBNode: every PBLink (field 2) first, then Data (field 1).
    let mut block = Vec::with_capacity(52 * links.len() + unixfs.len() + 4);
    let mut pblink = Vec::with_capacity(52);
    for link in links {
        pblink.clear();
        put_key(&mut pblink, 1, 2); // Hash
        put_varint(&mut pblink, CID_LEN as u64);
        pblink.extend_from_slice(&link.cid);
        put_key(&mut pblink, 2, 2); // Name: empty, but present
        put_varint(&mut pblink, 0);
        put_key(&mut pblink, 3, 0); // Tsize
        put_varint(&mut pblink, link.tsize);

        put_key(&mut block, 2, 2);
        put_varint(&mut block, pblink.len() as u64);
        block.extend_from_slice(&pblink);
    }
    put_key(&mut block, 1, 2);
    put_varint(&mut block, unixfs.len() as u64);
    block.extend_from_slice(&unixfs);

    let digest = Sha256::digest(&block);
    Link {
        cid: cid_v1(CODEC_DAG_PB, &digest),
        tsize: block.len() as u64 + links.iter().map(|l| l.tsize).sum::<u64>(),
        filesize,
    }
}

/// A binary CIDv1 with a sha2-256 multihash. Both codecs used here fit in one varint byte.
fn cid_v1(codec: u8, digest: &[u8]) -> [u8; CID_LEN] {
    let mut cid = [0u8; CID_LEN];
    cid[..4].copy_from_slice(&[0x01, codec, MH_SHA2_256, 32]);
    cid[4..].copy_from_slice(digest);
    cid
}

/// Writes a protobuf field key (field number, wire type).
fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(out, (field << 3) | wire_type);
}

/// Writes an unsigned LEB128 varint, as protobuf and multiformats use.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Multibase base32 lower (RFC 4648 alphabet, no padding) with the `b` prefix.
    fn base32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut out = String::from("b");
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// The CID of `len` zero bytes, fed in pieces of `piece` bytes.
    fn zeros_cid(mut c: FileCid, len: usize, piece: usize) -> String {
        let buf = vec![0u8; piece];
        let mut left = len;
        while left > 0 {
            let n = left.min(piece);
            c.update(&buf[..n]);
            left -= n;
        }
        assert_eq!(c.leaves, (len / c.chunk_size) as u64);
        base32(&c.finish())
    }

    #[test]
    fn varint() {
        let mut v = Vec::new();
        put_varint(&mut v, 262_144);
        assert_eq!(v, [0x80, 0x80, 0x10]);
    }

    #[test]
    fn base32_known() {
        assert_eq!(base32(b"foobar"), "bmzxw6ytboi");
    }

    /// CIDs from `ipfs add --only-hash --cid-version=1 --raw-leaves` (Kubo 0.43) of zeros.
    #[test]
    fn pinned_default_layout() {
        let cases: &[(usize, &str)] = &[
            (0, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
            (1, "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu"),
            (262_144, "bafkreiekhhjkxu4ztk3tyng3er3ijhg56mb44oe3gwbgquhzu4afrg2ksa"),
            (262_145, "bafybeigllfqgfpqydppr6cmv56g7ax4wyhruzswvcefv6j5kj77nzttfki"),
            (174 * 262_144, "bafybeibxsa3ioclowpaq7b6gxl65gzqneopfr3fnhedak6sqr4bjz5lnyq"),
            (174 * 262_144 + 1, "bafybeihqwzd3o6q6v3pmwhzjy22vokhr767burokmqemg63hptx2nqd7ym"),
        ];
        for &(len, want) in cases {
            assert_eq!(zeros_cid(FileCid::new(), len, 1 << 20), want, "{len} zero bytes");
            assert_eq!(zeros_cid(FileCid::default(), len, 100_003), want, "{len}, pieces");
        }
    }

    /// The same with `--chunker=size-16` and `Import.UnixFSFileMaxLinks = 3`, which reaches
    /// depths 3 (28..=81 chunks) and 4 (82..=243 chunks) with little data.
    #[test]
    fn pinned_small_layout_deep_trees() {
        let cases: &[(usize, &str)] = &[
            (16, "bafkreibxi4ep753rtxkzphwioxkwzurin5wtz57mgf5dwjldfkvsr3bxxm"),
            (17, "bafybeia2fgxt7bxjyboe5ody6lqvj4tlx4dfi2vunkkpjcghfzfx33qoyq"),
            (48, "bafybeicsr2qsaxfdsou5n7enhr7jdko34lvdlnblni3ne54hjlog6nwxa4"),
            (49, "bafybeibhsm5d3obexrpxhcqgvst44j7hi3zpchinyknprbeohzeye26jma"),
            (144, "bafybeib6dlrydxudvwzbvwyu2j6veaqanhlj3f4mlrqwfhlq2vak5wvaae"),
            (145, "bafybeie7ed3g233r2mzetdjbrydkaf5mr6w6jnksy45ri6e6zupa4k2m6a"),
            (432, "bafybeia5vs4fityjghw4ffjb5scd4fky7ljka62eafsxmjc5ewlecx4r3m"),
            (433, "bafybeia2tm25hpitro7udcjmqrgxbbivtux6p3yq2s43skadtmbjupqb3i"),
            (1000, "bafybeiavdapzuhqep23ipzj7j2ggxmqdivcj5kwxvqdjbfuxqkjv6grerq"),
        ];
        for &(len, want) in cases {
            for piece in [1, 7, 1000] {
                let got = zeros_cid(FileCid::with_layout(16, 3), len, piece);
                assert_eq!(got, want, "{len} zero bytes in pieces of {piece}");
            }
        }
    }

    /// Memory stays proportional to the tree's width: one partial node per level.
    #[test]
    fn levels_stay_small() {
        let mut c = FileCid::with_layout(1, 3);
        c.update(&[7u8; 1000]);
        assert!(c.levels.iter().all(|l| l.len() <= 3));
        // Never more levels than the final tree's depth: 3^6 = 729 < 1000 <= 3^7.
        assert!(c.levels.len() <= 7);
    }
}
