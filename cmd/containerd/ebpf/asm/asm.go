// Package asm stands in for cilium/ebpf's eBPF assembler in berth's
// containerd (see package ebpf): it has the few instructions cgroup2's
// device filter is written with, and they assemble to nothing, since no
// program is ever loaded (ebpf.NewProgram fails).
package asm

// Register is an eBPF register.
type Register uint8

// The registers cgroup2's device filter uses.
const (
	R0 Register = iota
	R1
	R2
	R3
	R4
	R5
)

// Size is the width of a memory access.
type Size uint8

// The sizes cgroup2's device filter loads.
const (
	Half Size = 0x08
	Word Size = 0x00
)

// Instruction is one instruction: empty here.
type Instruction struct{}

// WithSymbol returns ins: there is no program to label.
func (ins Instruction) WithSymbol(string) Instruction { return ins }

// Instructions is a program's text.
type Instructions []Instruction

// ALUOp is an arithmetic operation.
type ALUOp uint8

// The arithmetic operations cgroup2's device filter uses.
const (
	And ALUOp = 0x50
	RSh ALUOp = 0x70
	Mov ALUOp = 0xb0
)

// Imm32 is op on dst and a constant.
func (ALUOp) Imm32(Register, int32) Instruction { return Instruction{} }

// Reg32 is op on dst and src.
func (ALUOp) Reg32(Register, Register) Instruction { return Instruction{} }

// JumpOp is a jump.
type JumpOp uint8

// The jumps cgroup2's device filter uses.
const (
	JEq JumpOp = 0x10
	JNE JumpOp = 0x50
)

// Imm jumps to label by comparing dst with a constant.
func (JumpOp) Imm(Register, int32, string) Instruction { return Instruction{} }

// LoadMem loads from memory.
func LoadMem(Register, Register, int16, Size) Instruction { return Instruction{} }

// Return returns from the program.
func Return() Instruction { return Instruction{} }
