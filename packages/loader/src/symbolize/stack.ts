/**
 * Reading `BPF_MAP_TYPE_STACK_TRACE` entries: each value is an array of `depth` u64 instruction
 * pointers, zero-terminated when the stack is shorter.
 */
