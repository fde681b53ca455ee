#!/usr/bin/env python3
"""Writes the committed seed corpus of the offheap-fuzz fuzzers (ci/fuzz/corpus/<fuzzer>/).

Each seed is a short, readable operation sequence in the encoding the fuzzer decodes
(Sources/offheap-fuzz/*Fuzzer.swift): configuration bytes, then per operation a selector
byte (taken modulo the operation count) and its operand bytes. Seeds cover every operation
once so libFuzzer starts with coverage of each path; they contain no failing input.
Run it again after changing an encoding: `python3 ci/fuzz/make-seeds.py`.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def w(n):  # a 16-bit little-endian operand (FuzzInput.word)
    return list(struct.pack("<H", n))


def write(fuzzer, name, data):
    os.makedirs(os.path.join(ROOT, fuzzer), exist_ok=True)
    with open(os.path.join(ROOT, fuzzer, name), "wb") as f:
        f.write(bytes(data))


# FreeList: config (slotSize-8, log2 alignment, capacity-1, flags) then ops mod 10:
# 0-2 allocate, 3-4 free live(word), 5 free not live(word), 6 inside(word, word),
# 7 foreign(byte), 8 reset (next byte % 4 == 0) or rewrite(word), 9 lookup(word).
alloc, free, notlive, inside, foreign, reset_or_rewrite, lookup = 0, 3, 5, 6, 7, 8, 9
seq = [56, 3, 15, 0]  # 64-byte slots, 8-aligned, 16 slots, lazy checked
seq += [alloc] * 4 + [free] + w(1) + [notlive] + w(0) + [notlive] + w(3) + [inside] + w(2) + w(5)
seq += [inside] + w(1) + w(8) + [foreign, 0, foreign, 1, foreign, 2, lookup] + w(2)
seq += [reset_or_rewrite, 1] + w(0) + [reset_or_rewrite, 0, notlive] + w(0) + [alloc, alloc, free] + w(0)
write("freelist", "basic", seq)
seq = [40, 4, 99, 2 | 8]  # 48-byte slots, 16-aligned, 100 slots, 4 KiB slabs, decommit on reset
seq += [alloc] * 90 + [notlive] + w(95) + [reset_or_rewrite, 0] + [alloc] * 10 + [lookup] + w(97)
write("freelist", "growth", seq)
seq = [0, 0, 2, 4 | 1]  # 8-byte slots, unchecked, preallocated, 3 slots
seq += [alloc] * 4 + [free] + w(0) + [inside] + w(1) + w(3) + [foreign, 1, reset_or_rewrite, 0, alloc]
write("freelist", "unchecked-full", seq)

# ShardedFreeList: config (slotSize-8, log2 alignment, capacity-1, magazine-2) then ops mod 9:
# 0-2 allocate, 3-4 free live(word), 5 free not live(word), 6 inside(word, word),
# 7 foreign(byte), 8 flush (next byte % 3 == 0) or rewrite(word).
alloc, free, notlive, inside, foreign, flush_or_rewrite = 0, 3, 5, 6, 7, 8
seq = [56, 3, 63, 6]  # 64-byte slots, 64 slots, magazine 8
seq += [alloc] * 12 + [free] + w(3) + [free] + w(4) + [notlive] + w(60) + [inside] + w(1) + w(9)
seq += [foreign, 0, foreign, 1, foreign, 3, flush_or_rewrite, 0, flush_or_rewrite, 1] + w(2) + [alloc] * 3
write("sharded", "basic", seq)
seq = [17, 2, 9, 0]  # 25-byte slots, 4-aligned (stride 28), 10 slots, magazine 2
seq += [alloc] * 11 + [free] + w(0) + [free] + w(5) + [inside] + w(3) + w(2) + [notlive] + w(1)
write("sharded", "exhaust", seq)

# Arena: config (pages-1) then ops mod 8: 0-2 allocate(size, alignment), 3 free live(word,
# byte), 4 free stale(byte), 5 free at offset(word), 6 reset (next byte % 3 == 0, then
# decommit byte) or rewrite(word), 7 foreign(byte).
alloc, freelive, stale, at, reset_or_rewrite, foreign = 0, 3, 4, 5, 6, 7
seq = [1]  # two pages
seq += [alloc, 10, 0, alloc, 100, 0x80 | 6, alloc, 0xC0 | 3, 0, alloc, 0xE0, 0, alloc, 5, 0xC1]
seq += [freelive] + w(1) + [7, at] + w(40) + [at] + w(7000) + [foreign, 0, foreign, 1, foreign, 2]
seq += [reset_or_rewrite, 1] + w(0) + [reset_or_rewrite, 0, 1] + [alloc, 60, 0, alloc, 60, 0, stale, 0, stale, 1]
write("arena", "basic", seq)
seq = [0]  # one page: exhaust it on the fast path, then on the aligned path
seq += [alloc, 0xC5, 0] * 3 + [alloc, 100, 0x80 | 9] + [at] + w(4000) + [reset_or_rewrite, 0, 0, alloc, 3, 1, stale, 0]
write("arena", "exhaust", seq)

# SlabPool: config (slab pages-1, slab limit-1, large table-1) then ops mod 10:
# 0-2 allocate(size, alignment), 3 allocate large(byte), 4 free large(word), 5 inside(word,
# word), 6 free stale(word), 7 free at offset(word * 8), 8 reset (next byte % 3 == 0, then
# decommit byte) or rewrite(word), 9 foreign(byte).
alloc, large, freelarge, inside, stale, at, reset_or_rewrite, foreign = 0, 3, 4, 5, 6, 7, 8, 9
seq = [0, 2, 1]  # 4 KiB slabs, 3 slabs, 2 large entries
seq += [alloc, 10, 3, alloc, 0x80 | 20, 4, alloc, 0x80 | 40, 12, alloc, 0xC0, 0, alloc, 5, 0xC1]
seq += [large, 1, large, 7, large, 2, inside] + w(0) + w(77) + [inside] + w(1) + w(5)
seq += [freelarge] + w(0) + [stale] + w(0) + [at] + w(3) + [at] + w(900) + [foreign, 0, foreign, 1]
seq += [reset_or_rewrite, 1] + w(0) + [reset_or_rewrite, 0, 0, stale] + w(1) + [alloc, 9, 0, large, 3]
write("slabpool", "basic", seq)
seq = [1, 0, 0]  # 8 KiB slabs, one slab, one large entry: exhaust both
seq += [alloc, 0x80 | 63, 0] * 3 + [large, 0, large, 1, freelarge] + w(0) + [large, 0, stale] + w(0)
write("slabpool", "exhaust", seq)

# SizeClassHeap: config (flags: cached segments | huge cache << 2, retained 64 KiB units) then
# ops mod 11: 0-2 allocate(word size, alignment), 3-4 free live(word), 5 free stale(word),
# 6 inside(word, word), 7 reallocate(word, word), 8 foreign(byte), 9 usableSize(stale
# word), 10 trim / release expired / rewrite (next byte % 4, word).
alloc, free, stale, inside, realloc, foreign, usable, maint = 0, 3, 5, 6, 7, 8, 9, 10
seq = [0x05, 1]
seq += [alloc] + w(24) + [3] + [alloc] + w(100) + [4] + [alloc] + w(0) + [0] + [alloc] + w(6 << 13 | 40) + [3]
seq += [alloc] + w(5 << 13 | 2000) + [0xA0 | 12] + [alloc] + w(7 << 13 | 1) + [0] + [alloc] + w(30) + [0xE2]
seq += [free] + w(0) + [stale] + w(0) + [usable] + w(0) + [inside] + w(1) + w(13) + [inside] + w(2) + w(16)
seq += [realloc] + w(1) + w(5 << 13 | 900) + [foreign, 8, foreign, 3, maint, 0, maint, 1, maint, 2] + w(0)
seq += [free] + w(0) + [free] + w(0) + [stale] + w(1)
write("sizeclass", "basic", seq)
seq = [0x00, 0]  # nothing retained or cached: pages and segments are released at once
seq += ([alloc] + w(5 << 13 | 4096) + [3]) * 6 + [free] + w(0) * 1 + ([free] + w(0)) * 5 + [maint, 0]
seq += [stale] + w(2) + [alloc] + w(64) + [3] + [stale] + w(3) + [usable] + w(4)
write("sizeclass", "release", seq)

# Hyaline structures: config (pool capacity-2, retire batch threshold-1) then ops mod 6:
# 0-1 push, 2 pop, 3 enqueue, 4 dequeue, 5 isEmpty checks; a final byte (even: drain the stack).
push, pop, enq, deq, empty = 0, 2, 3, 4, 5
seq = [14, 3]  # 16 nodes, batches of 4
seq += [push] * 5 + [pop, pop, enq, enq, enq, deq, empty] + [push] * 12 + [enq, enq, pop, pop, deq, deq, deq, deq, empty, 0]
write("hyaline", "basic", seq)
seq = [0, 0]  # 2 nodes (one is the queue's dummy), batches of 1: exhaust at once
seq += [push, push, pop, enq, enq, deq, pop, pop, push, empty, 1]
write("hyaline", "tiny", seq)
