//! Interleaving two independent runs of straight-line PTX, so that `ptxas` overlaps them.
//!
//! `ptxas` schedules within a basic block, but keeps independent instructions close to the
//! order they are written in: the decode of a loop's next staged operand written after the
//! iteration's `mma`s runs after them, while the tensor cores idle (CUTLASS's and Marlin's
//! main loops interleave the two by hand). [`interleave`] spreads the lines of a second run
//! evenly among those of a first, keeping each run's own order and every register
//! dependency between them. It gives up (returns `None`) on anything whose order matters
//! beyond registers: labels, branches, barriers, `cp.async` waits, fences, scopes and
//! declarations, and on a second run that writes a register the first reads or writes.

use std::collections::HashMap;

/// The lines of `first` with those of `second` spread evenly among them (each run in its
/// own order; a line of `second` after the lines of `first` that define registers it
/// reads), or `None` when the runs cannot be interleaved safely.
pub(crate) fn interleave(first: &str, second: &str) -> Option<String> {
    let a: Vec<&str> = first.lines().collect();
    let b: Vec<&str> = second.lines().collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a_ops, b_ops): (Vec<Operands>, Vec<Operands>) = (
        a.iter().map(|l| operands(l)).collect::<Option<_>>()?,
        b.iter().map(|l| operands(l)).collect::<Option<_>>()?,
    );
    // The last line of `first` that defines each register.
    let mut defined_at: HashMap<&str, usize> = HashMap::new();
    for (i, o) in a_ops.iter().enumerate() {
        for &r in &o.defs {
            defined_at.insert(r, i);
        }
    }
    // `second` must not write what `first` touches (its lines move before some of them).
    let touched: std::collections::HashSet<&str> = a_ops
        .iter()
        .flat_map(|o| o.defs.iter().chain(&o.uses))
        .copied()
        .collect();
    if b_ops
        .iter()
        .any(|o| o.defs.iter().any(|r| touched.contains(r)))
    {
        return None;
    }
    // Each line of `second` goes after line `place[j]` of `first`: its even share, or later
    // for its dependencies, and never before the line of `second` ahead of it.
    let mut place = Vec::with_capacity(b.len());
    let mut floor = 0;
    for (j, o) in b_ops.iter().enumerate() {
        let even = j * a.len() / b.len();
        let after_deps = o
            .uses
            .iter()
            .filter_map(|r| defined_at.get(r))
            .max()
            .copied()
            .unwrap_or(0);
        floor = floor.max(even).max(after_deps);
        place.push(floor);
    }
    let mut out = String::with_capacity(first.len() + second.len() + 2);
    let mut next = 0;
    for (i, line) in a.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        while next < b.len() && place[next] == i {
            out.push_str(b[next]);
            out.push('\n');
            next += 1;
        }
    }
    Some(out)
}

/// The registers a line writes and reads.
#[derive(Default)]
struct Operands<'l> {
    defs: Vec<&'l str>,
    uses: Vec<&'l str>,
}

/// The registers `line` writes and reads, or `None` for a line that must keep its place
/// (see the module doc). Comments and blank lines have none.
fn operands(line: &str) -> Option<Operands<'_>> {
    let text = line.trim();
    let text = text.split("//").next().unwrap_or("").trim();
    if text.is_empty() {
        return Some(Operands::default());
    }
    if text.ends_with(':') || text.starts_with('.') || text == "{" || text == "}" {
        return None;
    }
    let text = text.trim_end_matches(';');
    let (guard, rest) = match text.strip_prefix('@') {
        Some(g) => {
            let (g, rest) = g.split_once(char::is_whitespace)?;
            (Some(g), rest.trim_start())
        }
        None => (None, text),
    };
    let (opcode, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    const ORDERED: [&str; 9] = [
        "bra",
        "bar",
        "barrier",
        "ret",
        "exit",
        "membar",
        "fence",
        "call",
        "cp.async.wait",
    ];
    let named = |o: &str| {
        opcode
            .strip_prefix(o)
            .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '_']))
    };
    if ORDERED.iter().any(|o| named(o)) {
        return None;
    }
    let mut o = Operands::default();
    o.uses.extend(guard.into_iter().flat_map(registers));
    // Stores and asynchronous copies write memory, not their first operand.
    let writes_memory = ["st.", "cp.async", "red.", "prefetch"]
        .iter()
        .any(|p| opcode.starts_with(p));
    let args = top_level_operands(args);
    match args.split_first() {
        Some((dst, srcs)) if !writes_memory => {
            // A vector destination's registers, or an address operand's base (`[%r1]` is read).
            if dst.starts_with('[') {
                o.uses.extend(registers(dst));
            } else {
                o.defs.extend(registers(dst));
            }
            o.uses.extend(srcs.iter().flat_map(|s| registers(s)));
        }
        _ => o.uses.extend(args.iter().flat_map(|s| registers(s))),
    }
    Some(o)
}

/// `args` split at the commas outside braces and brackets.
fn top_level_operands(args: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in args.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(args[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = args[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The virtual registers (`%r12`, `%rd3`, `%p7`, `%f40`...) named in `text`; special
/// registers (`%tid.x`) are not virtual and not listed.
fn registers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '%' || c == '_'))
        .filter(|t| {
            t.strip_prefix('%').is_some_and(|name| {
                let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                !digits.is_empty()
                    && digits.len() < name.len()
                    && digits.chars().all(|c| c.is_ascii_digit())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::interleave;

    #[test]
    fn spreads_the_second_run_and_keeps_dependencies() {
        let first = "    mov.u32 %r1, 1;\n    add.u32 %r2, %r1, 1;\n    add.u32 %r3, %r2, 1;\n    add.u32 %r4, %r3, 1;\n";
        let second = "    mul.lo.u32 %r10, %r3, 2;\n    st.shared.u32 [%r11], %r10;\n";
        let out = interleave(first, second).unwrap();
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        // `%r10` reads `%r3`, defined by the third line of `first`.
        let mul = lines.iter().position(|l| l.starts_with("mul")).unwrap();
        let r3 = lines.iter().position(|l| l.contains("%r3, %r2")).unwrap();
        assert!(mul > r3, "{out}");
        assert!(lines.iter().position(|l| l.starts_with("st.")).unwrap() > mul);
        // `first` keeps its order, and nothing is lost.
        let firsts: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with("mul") && !l.starts_with("st."))
            .collect();
        assert_eq!(firsts, first.lines().map(str::trim).collect::<Vec<_>>());
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn spreads_an_independent_run_evenly() {
        let first: String = (0..8)
            .map(|i| format!("    mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {{%f{i}, %f{}}}, {{%r1}}, {{%r2}}, {{%f{i}, %f{}}};\n", i + 100, i + 100))
            .collect();
        let second = "    cvt.rn.f32.s32 %f50, %r60;\n    cvt.rn.f32.s32 %f51, %r61;\n";
        let out = interleave(&first, second).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let at: Vec<_> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("cvt"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at, vec![1, 6], "{out}");
    }

    #[test]
    fn refuses_what_must_keep_its_place() {
        let dot =
            "    mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f1}, {%r1}, {%r2}, {%f1};\n";
        for second in [
            "    bar.sync 0;\n",
            "$L_x:\n",
            "    @%p1 bra.uni $L_x;\n",
            "    cp.async.wait_group 0;\n",
            // Writes a register the first run reads.
            "    mov.u32 %r1, 0;\n",
        ] {
            assert!(interleave(dot, second).is_none(), "{second}");
        }
        assert!(interleave(dot, "    cp.async.ca.shared.global [%r5], [%rd1], 16;\n").is_some());
    }
}
