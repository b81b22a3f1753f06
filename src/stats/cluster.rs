//! The effective number of independent trials of a search (López de Prado, "A Data Science
//! Solution to the Multiple-Testing Crisis in Financial Research", 2019): trials whose returns
//! move together test the same idea, so they are clustered by the correlation of their returns
//! and each cluster counts once.
//!
//! How: the distance between two trials is `sqrt((1 − ρ) / 2)` (0 for identical returns, 1 for
//! opposite ones), and agglomerative clustering with average linkage (`kodama`) builds the
//! tree. Trials whose average correlation is under 0.2 are never joined: the tree is cut at
//! that height or below, which gives the fewest clusters allowed. Among those cuts (at least
//! 2 clusters), the one with the highest mean silhouette is taken — the ONC algorithm's
//! criterion, with the tree in place of its repeated k-means; ties go to fewer clusters —
//! unless even the best one shows "no substantial structure" (mean silhouette under 0.25,
//! Kaufman & Rousseeuw); then the cut at the correlation floor is taken. So unrelated trials
//! stay apart, variants of one idea count once, and with one or two trials each trial is its
//! own cluster. Each cluster is then one return series: its members' returns weighted by
//! inverse variance.

use kodama::{linkage, Method};

/// Largest number of clusters tried.
const MAX_K: usize = 200;
/// The mean silhouette below which a cut shows no structure (Kaufman & Rousseeuw).
pub const MIN_SILHOUETTE: f64 = 0.25;
/// The lowest average correlation at which trials are joined into one cluster.
pub const MIN_CORRELATION: f64 = 0.2;

/// A clustering of trials.
#[derive(Clone, Debug, PartialEq)]
pub struct Clusters {
    /// Cluster of each trial, `0..k`.
    pub labels: Vec<usize>,
    /// Number of clusters.
    pub k: usize,
    /// Mean silhouette of the chosen cut (`None` with fewer than 3 trials).
    pub silhouette: Option<f64>,
}

impl Clusters {
    /// The members of cluster `c`.
    pub fn members(&self, c: usize) -> impl Iterator<Item = usize> + '_ {
        self.labels
            .iter()
            .enumerate()
            .filter(move |(_, &l)| l == c)
            .map(|(i, _)| i)
    }
}

/// Pairwise correlations of equally long series (a constant series correlates 0 with all).
pub fn correlations(series: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let z: Vec<Option<Vec<f64>>> = series.iter().map(|s| standardised(s)).collect();
    let n = series.len();
    let mut rho = vec![vec![0.0; n]; n];
    for i in 0..n {
        rho[i][i] = 1.0;
        for j in i + 1..n {
            let r = match (&z[i], &z[j]) {
                (Some(a), Some(b)) => {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                    (dot / (a.len() as f64 - 1.0)).clamp(-1.0, 1.0)
                }
                _ => 0.0,
            };
            rho[i][j] = r;
            rho[j][i] = r;
        }
    }
    rho
}

/// `(x − mean) / sd` (sd with n − 1); `None` for a constant or short series.
fn standardised(x: &[f64]) -> Option<Vec<f64>> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    if var <= 0.0 || !var.is_finite() {
        return None;
    }
    let sd = var.sqrt();
    Some(x.iter().map(|v| (v - mean) / sd).collect())
}

/// Clusters trials given their correlation matrix `rho`.
pub fn cluster(rho: &[Vec<f64>]) -> Clusters {
    let n = rho.len();
    if n < 3 {
        return Clusters {
            labels: (0..n).collect(),
            k: n,
            silhouette: None,
        };
    }
    let dist = |i: usize, j: usize| (0.5 * (1.0 - rho[i][j])).max(0.0).sqrt();
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            condensed.push(dist(i, j));
        }
    }
    let tree = linkage(&mut condensed, n, Method::Average);
    let merges: Vec<(usize, usize)> = tree
        .steps()
        .iter()
        .map(|s| (s.cluster1, s.cluster2))
        .collect();
    // Average linkage merges at non-decreasing heights: the cuts allowed keep every merge at or
    // below the height of MIN_CORRELATION.
    let height = (0.5 * (1.0 - MIN_CORRELATION)).sqrt();
    let joinable = tree
        .steps()
        .iter()
        .take_while(|s| s.dissimilarity <= height)
        .count();
    let fewest = n - joinable;
    let mut best: Option<(Vec<usize>, f64)> = None;
    let first = fewest.max(2);
    for k in first..=(n - 1).min(first.max(MAX_K)) {
        let labels = cut(&merges, n, k);
        let s = mean_silhouette(&labels, k, &dist);
        if best.as_ref().is_none_or(|(_, b)| s > *b + 1e-12) {
            best = Some((labels, s));
        }
    }
    let (labels, silhouette) = match best {
        Some((labels, s)) if s >= MIN_SILHOUETTE => (labels, Some(s)),
        _ => {
            let labels = cut(&merges, n, fewest);
            let s = (fewest >= 2).then(|| mean_silhouette(&labels, fewest, &dist));
            (labels, s)
        }
    };
    let k = labels.iter().max().map_or(0, |m| m + 1);
    Clusters {
        labels,
        k,
        silhouette,
    }
}

/// The labels `0..k` after the first `n − k` merges of the tree (clusters numbered by their
/// first member).
fn cut(merges: &[(usize, usize)], n: usize, k: usize) -> Vec<usize> {
    // Union-find over observations and the clusters the merges create (label n + step).
    let mut parent: Vec<usize> = (0..2 * n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (step, &(a, b)) in merges.iter().take(n - k).enumerate() {
        let new = n + step;
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        parent[ra] = new;
        parent[rb] = new;
    }
    let mut ids: Vec<Option<usize>> = vec![None; 2 * n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = root(&mut parent, i);
            *ids[r].get_or_insert_with(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// The mean silhouette of a labelling (a singleton's silhouette is 0).
fn mean_silhouette(labels: &[usize], k: usize, dist: &dyn Fn(usize, usize) -> f64) -> f64 {
    let n = labels.len();
    let mut total = 0.0;
    for i in 0..n {
        let mut sum = vec![0.0; k];
        let mut count = vec![0usize; k];
        for j in 0..n {
            if i != j {
                sum[labels[j]] += dist(i, j);
                count[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if count[own] == 0 {
            continue;
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && count[c] > 0)
            .map(|c| sum[c] / count[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / n as f64
}

/// One return series for cluster `c`: its members' returns weighted by inverse variance (a
/// constant member gets no weight; all constant: their plain mean).
pub fn cluster_returns(series: &[Vec<f64>], clusters: &Clusters, c: usize) -> Vec<f64> {
    let members: Vec<usize> = clusters.members(c).collect();
    let len = members.iter().map(|&m| series[m].len()).min().unwrap_or(0);
    let weights: Vec<f64> = members
        .iter()
        .map(|&m| {
            let s = &series[m][..len];
            let mean = s.iter().sum::<f64>() / len.max(1) as f64;
            let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len.max(1) as f64;
            if var > 0.0 && var.is_finite() {
                1.0 / var
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let weights: Vec<f64> = if total > 0.0 {
        weights.iter().map(|w| w / total).collect()
    } else {
        vec![1.0 / members.len().max(1) as f64; members.len()]
    };
    (0..len)
        .map(|t| {
            members
                .iter()
                .zip(&weights)
                .map(|(&m, w)| w * series[m][t])
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Normal;

    /// `k` groups of `size` trials, each a common factor plus a little noise, and `junk`
    /// independent trials.
    pub(crate) fn structured(k: usize, size: usize, junk: usize, days: usize) -> Vec<Vec<f64>> {
        let mut g = Normal::new(7);
        let factors: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..days).map(|_| g.sample() * 0.01).collect())
            .collect();
        let mut out = Vec::new();
        for f in &factors {
            for _ in 0..size {
                out.push(f.iter().map(|x| x + g.sample() * 0.002).collect());
            }
        }
        for _ in 0..junk {
            out.push((0..days).map(|_| g.sample() * 0.01).collect());
        }
        out
    }

    #[test]
    fn finds_the_planted_groups() {
        let s = structured(4, 5, 0, 500);
        let c = cluster(&correlations(&s));
        assert_eq!(c.k, 4);
        for g in 0..4 {
            let first = c.labels[g * 5];
            assert!(c.labels[g * 5..g * 5 + 5].iter().all(|&l| l == first));
        }
        assert!(c.silhouette.unwrap() > 0.7, "{c:?}");
    }

    #[test]
    fn unrelated_trials_are_not_pooled() {
        let s = structured(0, 0, 30, 500);
        let c = cluster(&correlations(&s));
        assert_eq!(c.k, 30, "{c:?}");
        // Planted groups among unrelated trials: the groups pool, the rest stay apart.
        let s = structured(3, 6, 6, 500);
        let c = cluster(&correlations(&s));
        assert_eq!(c.k, 3 + 6, "{c:?}");
    }

    #[test]
    fn variants_of_one_idea_count_once() {
        // Ten variants of one signal (correlation about 0.5 with each other).
        let mut g = Normal::new(5);
        let f: Vec<f64> = (0..800).map(|_| g.sample() * 0.01).collect();
        let s: Vec<Vec<f64>> = (0..10)
            .map(|_| f.iter().map(|x| x + g.sample() * 0.01).collect())
            .collect();
        assert_eq!(cluster(&correlations(&s)).k, 1);
    }

    #[test]
    fn small_and_degenerate_inputs() {
        assert_eq!(cluster(&[]).k, 0);
        assert_eq!(cluster(&correlations(&[vec![0.1, 0.2, 0.3]])).k, 1);
        let flat = vec![vec![0.0; 50]; 4];
        assert_eq!(cluster(&correlations(&flat)).k, 4);
    }

    #[test]
    fn cluster_series_weights_by_inverse_variance() {
        let s = vec![
            vec![0.01, -0.01, 0.01, -0.01],
            vec![0.02, -0.02, 0.02, -0.02],
        ];
        let c = Clusters {
            labels: vec![0, 0],
            k: 1,
            silhouette: None,
        };
        // Weights 4/5 and 1/5: 0.8·0.01 + 0.2·0.02 = 0.012.
        let r = cluster_returns(&s, &c, 0);
        assert!(
            (r[0] - 0.012).abs() < 1e-15 && (r[1] + 0.012).abs() < 1e-15,
            "{r:?}"
        );
    }
}
