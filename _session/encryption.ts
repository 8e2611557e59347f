/**
 * Session data encrypted at rest (the manager's `encryption` option):
 * AES-256-GCM through `node:crypto`, bound to the store key, with a list of
 * keys so that one can be rotated out. `node:crypto` because it is
 * synchronous (a listed session is decoded synchronously) and per call no
 * slower here than WebCrypto's promise (bench/README.md, issue 23). The
 * owner index gets a keyed hash of the owner instead of the owner itself.
 *
 * A record is `E1 | key id (4) | nonce (12) | ciphertext | tag (16)`; the
 * additional authenticated data is the first 5 bytes followed by the UTF-8
 * store key, so a record copied under another key does not decrypt.
 *
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
} from "node:crypto";
import { Buffer } from "node:buffer";
import type { SessionEncryptionOptions } from "./types.ts";

/** The first byte of every encrypted record: format 1. */
const ENCRYPTED_MARK = 0xe1;
/** Length of a key, in bytes. */
const KEY_BYTES = 32;
const ID_BYTES = 4;
const HEADER_BYTES = 1 + ID_BYTES;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes an encrypted record adds to the encoded session. */
const ENCRYPTION_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;
/** Blinded owner names remembered per key, so a save rarely hashes. */
const OWNER_CACHE_SIZE = 10_000;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** One key of the list, with its subkeys. */
interface KeySlot {
  /** Identifies the key in records: HKDF output, so it reveals nothing. */
  id: Uint8Array;
  /** The key id as a number, for the lookup on every read. */
  idNumber: number;
  /** The AES-256-GCM key. */
  data: Buffer;
  /** The HMAC-SHA-256 key for owner names. */
  owner: Uint8Array;
  owners: Map<string, string>;
}

/** Encrypts and decrypts session records with a list of keys. */
export class SessionCipher {
  readonly #slots: KeySlot[];
  readonly #byId = new Map<number, number>();
  /** Reused for the additional data: node:crypto copies it at once. */
  #aad = Buffer.alloc(HEADER_BYTES + 64);
  /** Whether records without the mark are read as they are (migration). */
  readonly acceptUnencrypted: boolean;

  /**
   * @throws {TypeError} When `keys` is not a non-empty array of
   * `Uint8Array` and base64 strings, or an option is unknown or of the
   * wrong type.
   * @throws {RangeError} When a key is not exactly 32 bytes, or appears
   * twice.
   */
  constructor(options: SessionEncryptionOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        'Cannot create session manager: option "encryption" must be an object with a "keys" array',
      );
    }
    for (const name of Object.keys(options)) {
      if (name !== "keys" && name !== "acceptUnencrypted") {
        throw new TypeError(
          `Cannot create session manager: unknown encryption option "${name}"`,
        );
      }
    }
    const { keys, acceptUnencrypted = false } = options;
    if (typeof acceptUnencrypted !== "boolean") {
      throw new TypeError(
        'Cannot create session manager: option "encryption.acceptUnencrypted" must be a boolean',
      );
    }
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new TypeError(
        'Cannot create session manager: option "encryption.keys" must be a non-empty array of 32-byte keys (Uint8Array or base64)',
      );
    }
    this.#slots = keys.map((key, i) => deriveSlot(keyBytes(key, i)));
    this.#slots.forEach((slot, i) => {
      if (this.#byId.has(slot.idNumber)) {
        throw new RangeError(
          `Cannot create session manager: encryption key ${i} is listed twice`,
        );
      }
      this.#byId.set(slot.idNumber, i);
    });
    this.acceptUnencrypted = acceptUnencrypted;
  }

  /** Encrypts `plaintext` for store key `key` with the first key. */
  seal(key: string, plaintext: Uint8Array): Uint8Array {
    const slot = this.#slots[0]!;
    const out = new Uint8Array(ENCRYPTION_OVERHEAD + plaintext.byteLength);
    out[0] = ENCRYPTED_MARK;
    out.set(slot.id, 1);
    const nonce = out.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    crypto.getRandomValues(nonce);
    const cipher = createCipheriv("aes-256-gcm", slot.data, nonce);
    cipher.setAAD(this.#additionalData(out, key));
    let at = HEADER_BYTES + NONCE_BYTES;
    // A Buffer view spares node:crypto a copy of the input.
    const body = cipher.update(asBuffer(plaintext));
    out.set(body, at);
    at += body.byteLength;
    const rest = cipher.final();
    out.set(rest, at);
    out.set(cipher.getAuthTag(), at + rest.byteLength);
    return out;
  }

  /**
   * Returns the plaintext of record `data` stored under `key`.
   *
   * @throws {TypeError} When the record names no key of the list, is cut
   * short, or fails authentication (tampered, or moved from another key).
   */
  open(key: string, data: Uint8Array): Uint8Array {
    const index = this.keyIndexOf(data);
    if (index === -1) {
      if (this.acceptUnencrypted && data[0] !== ENCRYPTED_MARK) return data;
      throw new TypeError(
        "Cannot decrypt session: its key is not in the encryption key list",
      );
    }
    if (data.byteLength < ENCRYPTION_OVERHEAD) {
      throw new TypeError("Cannot decrypt session: the record is cut short");
    }
    const tagAt = data.byteLength - TAG_BYTES;
    const decipher = createDecipheriv(
      "aes-256-gcm",
      this.#slots[index]!.data,
      data.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES),
      { authTagLength: TAG_BYTES },
    );
    decipher.setAAD(this.#additionalData(data, key));
    decipher.setAuthTag(data.subarray(tagAt));
    const body = decipher.update(
      asBuffer(data.subarray(ENCRYPTION_OVERHEAD - TAG_BYTES, tagAt)),
    );
    // final() throws when the tag does not match.
    const rest = decipher.final();
    return rest.byteLength === 0 ? body : concat(body, rest);
  }

  /**
   * The position in the key list of the key that encrypted `data`; -1 when
   * it is not encrypted or its key is not in the list.
   */
  keyIndexOf(data: Uint8Array): number {
    if (data.byteLength < HEADER_BYTES || data[0] !== ENCRYPTED_MARK) return -1;
    return this.#byId.get(idNumber(data, 1)) ?? -1;
  }

  /**
   * The name the owner index keeps for owner `name` in records of key
   * `index` (-1: unencrypted records, which keep the name itself): a keyed
   * hash, so a stolen index names nobody, yet the same owner always gets
   * the same name under one key.
   */
  owner(name: string, index = 0): string {
    if (index === -1) return name;
    const slot = this.#slots[index]!;
    let blinded = slot.owners.get(name);
    if (blinded === undefined) {
      const mac = createHmac("sha256", slot.owner).update(name).digest();
      blinded = base64url(mac.subarray(0, 16));
      if (slot.owners.size >= OWNER_CACHE_SIZE) slot.owners.clear();
      slot.owners.set(name, blinded);
    }
    return blinded;
  }

  /**
   * Every name owner `name` may have in the index: one per key, the first
   * key's first, then the name itself when unencrypted records are read.
   */
  ownerNames(name: string): string[] {
    const names = this.#slots.map((_, i) => this.owner(name, i));
    if (this.acceptUnencrypted) names.push(name);
    return names;
  }

  /** The header of `record` followed by the UTF-8 store key. */
  #additionalData(record: Uint8Array, key: string): Buffer {
    const length = HEADER_BYTES + key.length * 3;
    if (this.#aad.byteLength < length) this.#aad = Buffer.alloc(length);
    const out = this.#aad;
    out.set(record.subarray(0, HEADER_BYTES));
    const { written } = encoder.encodeInto(key, out.subarray(HEADER_BYTES));
    return out.subarray(0, HEADER_BYTES + written);
  }
}

/** The key as 32 bytes, from bytes or base64 (standard or URL-safe). */
function keyBytes(key: unknown, index: number): Uint8Array {
  let bytes: Uint8Array;
  if (key instanceof Uint8Array) {
    bytes = key.slice();
  } else if (typeof key === "string") {
    try {
      bytes = Uint8Array.from(
        atob(key.replaceAll("-", "+").replaceAll("_", "/")),
        (c) => c.charCodeAt(0),
      );
    } catch (error) {
      throw new TypeError(
        `Cannot create session manager: encryption key ${index} is a string but not base64; give 32 random bytes, for example from \`openssl rand -base64 32\` (passwords are not accepted)`,
        { cause: error },
      );
    }
  } else {
    throw new TypeError(
      `Cannot create session manager: encryption key ${index} must be a Uint8Array or a base64 string, got ${
        key === null ? "null" : typeof key
      }`,
    );
  }
  if (bytes.byteLength !== KEY_BYTES) {
    throw new RangeError(
      `Cannot create session manager: encryption key ${index} is ${bytes.byteLength} bytes, must be exactly ${KEY_BYTES} random bytes, for example from \`openssl rand -base64 32\` (passwords are not accepted)`,
    );
  }
  return bytes;
}

/** Derives the key id and the subkeys (HKDF-SHA-256, no salt). */
function deriveSlot(key: Uint8Array): KeySlot {
  const derive = (info: string, length: number) =>
    new Uint8Array(hkdfSync("sha256", key, EMPTY, info, length));
  const id = derive("buntstore session key id", ID_BYTES);
  return {
    id,
    idNumber: idNumber(id, 0),
    data: Buffer.from(derive("buntstore session data", KEY_BYTES)),
    owner: derive("buntstore session owner", KEY_BYTES),
    owners: new Map(),
  };
}

function idNumber(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) |
    (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
    .replaceAll("/", "_").replace(/=+$/, "");
}
