// Makes protobufjs decode 64-bit integers as plain numbers (exact below 2^53:
// milliseconds and seeds fit). Must be evaluated before the generated code,
// which reads util.Long when it loads.
import protobuf from "protobufjs/minimal.js";

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();
