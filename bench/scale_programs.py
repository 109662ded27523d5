"""Programs of many shapes and sizes for timing every command by hand (the scale sweep):
`python bench/scale_programs.py SHAPE N > f.cg`, SHAPE one of the functions below,
N about the node count. See bench/README.md, "Scale"."""
import sys
def chain(n):
    L=["input x = 0.5","param w = 0.9","h0 = x"]+[f"h{i} = tanh(w*h{i-1} + 0.1)" for i in range(1,n//4+1)]
    return "\n".join(L)+"\n"
def deep(n):
    s="x"
    for i in range(n): s=f"tanh({s})" if i%2 else f"({s}+0.1)"
    return "input x = 0.5\ny = "+s+"\n"
def deepp(n):
    return "input x = 0.5\ny = "+"("*n+"x"+")"*n+"\n"
def wide(n):
    return "".join(f"input x{i} = 1\n" for i in range(n))+"y = "+" + ".join(f"x{i}" for i in range(n))+"\n"
def widesum(n):
    return "".join(f"input x{i} = 1\n" for i in range(n))+"y = sum("+", ".join(f"x{i}" for i in range(n))+")\n"
def loop(n):
    return f"input h[0] = 0\nparam w = 0.5\nparam u = 0.3\nfor t in 1..{n//6} {{ input x[t] = 0.1\n h[t] = tanh(w*h[t-1] + u*x[t]) }}\n"
def nested(n):
    k=int((n/4)**0.5)
    return f"param w = 0.5\ninput a[0] = 0.1\nfor i in 1..{k} {{ for j in 1..{k} {{ z[i,j] = tanh(w*a[0] + i*0.01 + j) }}\n a[i] = sum(z[i,j] for j in 1..{k}) }}\ny = a[{k}]\n"
def aliases(n):
    return f"input h[0] = 0.5\nparam w[0] = 1\nfor t in 1..{n//5} {{ param w[t] = 0.5\n g[t] = h[t-1]\n h[t] = tanh(w[t]*g[t] + 0.1) }}\n"
def defs(n):
    k=n//6
    L=["input x = 0.5","param w = 0.5"]
    for i in range(k): L.append(f"def f{i}(a) = tanh(w*a + {i%7}*0.01)")
    L.append("y0 = x")
    for i in range(k): L.append(f"y{i+1} = f{i}(y{i})")
    return "\n".join(L)+"\n"
def calls(n):
    k=n//4
    L=["input x = 0.5","param w = 0.5","def f(a) = tanh(w*a + 0.1)","y0 = x"]
    for i in range(k): L.append(f"y{i+1} = f(y{i})")
    return "\n".join(L)+"\n"
def inputs(n):
    return "".join(f"input x[{i}] = {i%10}\n" for i in range(n))+f"y = sum(x[i]*x[i] for i in 0..{n-1})\n"
def outputs(n):
    k=n//2
    L=["input x = 0.5"]+[f"o{i} = x*{i%5+1}" for i in range(k)]
    L.append("output "+", ".join(f"o{i}" for i in range(k)))
    return "\n".join(L)+"\n"
def longnames(n):
    p="a"*200
    L=[f"input {p}0 = 0.5","param w = 0.9"]+[f"{p}{i} = tanh(w*{p}{i-1} + 0.1)" for i in range(1,n//4+1)]
    return "\n".join(L)+"\n"
def params(n):
    return "".join(f"param w{i} = 0.01\n" for i in range(n))+"y = "+" + ".join(f"w{i}*x" for i in range(n))+"\ninput x = 1"+"\n"
shape,n=sys.argv[1],int(float(sys.argv[2]))
sys.stdout.write(globals()[shape](n))
