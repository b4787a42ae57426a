//! Writing pcapng: section header, interface descriptions, enhanced packet
//! blocks and Decryption Secrets Blocks.
