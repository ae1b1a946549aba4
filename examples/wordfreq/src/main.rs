use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut text = String::new();
    if args.len() > 2 {
        text = std::fs::read_to_string(&args[2]).unwrap();
    } else {
        std::io::stdin().read_to_string(&mut text).unwrap();
    }
    for (w, c) in wordfreq::top(&text, &args[1]) {
        println!("{} {}", c, w);
    }
}
