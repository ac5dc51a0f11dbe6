// `@nats-io/kv` (JetStream key-value) for extension modules (import map → /vendor/kv.js). The package ships as
// CommonJS, whose names `export *` cannot see when bundled: re-export them one by one (tests/browser/vendor.test.mjs
// checks that every name of the package is here).
import * as lib from "@nats-io/kv";

export const {
  Base64KeyCodec,
  Bucket,
  KvWatchInclude,
  Kvm,
  NoopKvCodecs,
  defaultBucketOpts,
} = lib;
