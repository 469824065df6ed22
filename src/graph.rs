//! The dependency graph of resources, on petgraph.
//!
//! Nodes are positions in a list of resources and an edge runs from a
//! dependency to its dependent, so a topological order is a valid creation
//! order and its reverse a valid deletion order.

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use tenancy_sdk::ArcStr;

use crate::lang::{Diagnostic, Diagnostics};
use crate::lower::Desired;

/// A dependency graph over a list of addresses.
#[derive(Debug, Clone)]
pub struct ResourceGraph {
    /// Edges from dependency to dependent; node `i` is address `i`.
    pub graph: DiGraph<(), ()>,
    /// The addresses, by node index.
    pub addresses: Vec<String>,
}

/// A dependency cycle, as the addresses in the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Addresses in the loop, in dependency order, starting with the
    /// smallest address.
    pub addresses: Vec<String>,
}

impl ResourceGraph {
    /// Builds the graph from addresses and their dependencies. Dependencies
    /// that name no address in the list are ignored (lowering reports them).
    pub fn build<'a>(nodes: impl IntoIterator<Item = (&'a str, &'a [ArcStr])>) -> ResourceGraph {
        let nodes: Vec<(&str, &[ArcStr])> = nodes.into_iter().collect();
        let mut graph = DiGraph::with_capacity(nodes.len(), nodes.len() * 2);
        let mut index = HashMap::with_capacity_and_hasher(nodes.len(), foldhash::fast::RandomState::default());
        for (position, (address, _)) in nodes.iter().enumerate() {
            graph.add_node(());
            index.insert(*address, NodeIndex::new(position));
        }
        for (position, (_, dependencies)) in nodes.iter().enumerate() {
            for dependency in dependencies.iter() {
                if let Some(&from) = index.get(dependency.as_str()) {
                    graph.add_edge(from, NodeIndex::new(position), ());
                }
            }
        }
        ResourceGraph {
            graph,
            addresses: nodes.iter().map(|(address, _)| (*address).to_owned()).collect(),
        }
    }

    /// Returns the node positions in dependency order, or every cycle.
    pub fn order(&self) -> Result<Vec<usize>, Vec<Cycle>> {
        match toposort(&self.graph, None) {
            Ok(order) => Ok(order.into_iter().map(NodeIndex::index).collect()),
            Err(_) => Err(self.cycles()),
        }
    }

    /// Returns every dependency cycle of the graph.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut cycles: Vec<Cycle> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|component| component.len() > 1 || self.graph.contains_edge(component[0], component[0]))
            .map(|component| self.cycle_path(&component))
            .collect();
        cycles.sort_by(|left, right| left.addresses.cmp(&right.addresses));
        cycles
    }

    /// Orders the members of a strongly connected component along one loop.
    fn cycle_path(&self, component: &[NodeIndex]) -> Cycle {
        let start = *component
            .iter()
            .min_by_key(|node| &self.addresses[node.index()])
            .expect("a strongly connected component has a member");
        let mut path = vec![start];
        let mut current = start;
        while path.len() < component.len() {
            let next = self
                .graph
                .neighbors(current)
                .filter(|node| component.contains(node) && !path.contains(node))
                .min_by_key(|node| &self.addresses[node.index()]);
            match next {
                Some(node) => {
                    path.push(node);
                    current = node;
                }
                None => break,
            }
        }
        Cycle {
            addresses: path.into_iter().map(|node| self.addresses[node.index()].clone()).collect(),
        }
    }

    /// Returns the positions each node depends on.
    pub fn dependencies(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(position), petgraph::Direction::Incoming)
            .map(NodeIndex::index)
    }

    /// Returns the positions that depend on a node.
    pub fn dependents(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(position), petgraph::Direction::Outgoing)
            .map(NodeIndex::index)
    }

    /// Renders the graph in Graphviz DOT, dependents pointing at their
    /// dependencies as Terraform draws it.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph tenancy {\n  rankdir = \"RL\";\n  node [shape = \"box\"];\n");
        for address in &self.addresses {
            let _ = writeln!(dot, "  {};", dot_quote(address));
        }
        let mut edges: Vec<(&str, &str)> = self
            .graph
            .edge_indices()
            .filter_map(|edge| self.graph.edge_endpoints(edge))
            .map(|(from, to)| (self.addresses[to.index()].as_str(), self.addresses[from.index()].as_str()))
            .collect();
        edges.sort_unstable();
        for (dependent, dependency) in edges {
            let _ = writeln!(dot, "  {} -> {};", dot_quote(dependent), dot_quote(dependency));
        }
        dot.push_str("}\n");
        dot
    }
}

fn dot_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Builds the graph of desired resources and reports dependency cycles as
/// diagnostics that name every address in the loop.
pub fn build_desired(desired: &Desired) -> Result<ResourceGraph, Diagnostics> {
    let graph = ResourceGraph::build(
        desired
            .resources
            .iter()
            .map(|resource| (resource.address.as_str(), resource.depends_on.as_slice())),
    );
    let cycles = graph.cycles();
    if cycles.is_empty() {
        return Ok(graph);
    }
    let mut diagnostics = Diagnostics::default();
    for cycle in cycles {
        let mut loop_text = cycle.addresses.join(" → ");
        let _ = write!(loop_text, " → {}", cycle.addresses[0]);
        let mut diagnostic = Diagnostic::error("tenancy::graph::cycle", "Dependency cycle")
            .with_help(format!("These resources depend on each other: {loop_text}. Remove one `depends_on` entry to break the loop."));
        for address in &cycle.addresses {
            if let Some(resource) = desired.get(address) {
                diagnostic = diagnostic.with_label(resource.span.clone(), format!("`{address}` is part of the cycle"));
            }
        }
        diagnostics.push(diagnostic);
    }
    Err(diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(items: &[&str]) -> Vec<ArcStr> {
        items.iter().map(|item| ArcStr::from(*item)).collect()
    }

    #[test]
    fn order_puts_dependencies_first() {
        let nodes = [("tenant.a", deps(&["tier.pro"])), ("tier.pro", deps(&[]))];
        let graph = ResourceGraph::build(nodes.iter().map(|(address, deps)| (*address, deps.as_slice())));

        let order = graph.order().unwrap();

        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn cycle_names_every_address_in_loop() {
        let nodes = [
            ("resource.a", deps(&["resource.c"])),
            ("resource.b", deps(&["resource.a"])),
            ("resource.c", deps(&["resource.b"])),
            ("resource.d", deps(&[])),
        ];
        let graph = ResourceGraph::build(nodes.iter().map(|(address, deps)| (*address, deps.as_slice())));

        let cycles = graph.order().unwrap_err();

        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].addresses, deps(&["resource.a", "resource.b", "resource.c"]));
    }

    #[test]
    fn dot_lists_edges_from_dependent() {
        let nodes = [("tenant.a", deps(&["tier.pro"])), ("tier.pro", deps(&[]))];
        let graph = ResourceGraph::build(nodes.iter().map(|(address, deps)| (*address, deps.as_slice())));

        assert!(graph.to_dot().contains("\"tenant.a\" -> \"tier.pro\";"));
    }
}
