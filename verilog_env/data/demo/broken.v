// Does not compile: `count` is a wire but is assigned in an always block.
module counter(input clk, input reset, input up, input en,
               output [7:0] count, output at_limit);
  always @(posedge clk) count <= reset ? 0 : count + 1;
  assign at_limit = 0;
endmodule
